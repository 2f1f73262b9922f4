// Boxed key/value tables printed at the start of every command (resolved configuration
// and environment, as llm.c prints) and in summaries.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace disa::core {

class Table {
 public:
  explicit Table(std::string title = "") : title_(std::move(title)) {}
  Table& row(const std::string& key, const std::string& value);
  // A separator line with an optional heading, splitting the table into blocks.
  Table& section(const std::string& heading);
  std::string render() const;

 private:
  std::string title_;
  // An empty key with `is_section` marks a separator row.
  struct Row {
    std::string key, value;
    bool is_section = false;
  };
  std::vector<Row> rows_;
};

// A table with header and aligned columns (results tables: rows x metrics).
std::string render_grid(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);

}  // namespace disa::core
