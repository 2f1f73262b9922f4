// Rendering of boxed tables.
#include "disa/core/table.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace disa::core {
namespace {
// Display width of UTF-8 text: count code points (good enough for our ASCII tables).
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}
std::string pad(const std::string& s, size_t w) { return s + std::string(w - std::min(w, width(s)), ' '); }
}  // namespace

Table& Table::row(const std::string& key, const std::string& value) {
  rows_.push_back({key, value, false});
  return *this;
}

Table& Table::section(const std::string& heading) {
  rows_.push_back({heading, "", true});
  return *this;
}

std::string Table::render() const {
  size_t kw = 9, vw = 5;  // "Parameter", "Value"
  for (const auto& r : rows_) {
    if (r.is_section) continue;
    kw = std::max(kw, width(r.key));
    vw = std::max(vw, width(r.value));
  }
  size_t total = kw + vw + 7;
  if (width(title_) + 4 > total) vw += width(title_) + 4 - total, total = kw + vw + 7;
  std::string line = "+" + std::string(kw + 2, '-') + "+" + std::string(vw + 2, '-') + "+\n";
  std::string out;
  if (!title_.empty()) {
    out += "+" + std::string(total - 2, '-') + "+\n";
    out += "| " + pad(title_, total - 4) + " |\n";
  }
  out += line;
  for (const auto& r : rows_) {
    if (r.is_section) {
      out += line;
      if (!r.key.empty()) out += "| " + pad(r.key, total - 4) + " |\n" + line;
      continue;
    }
    out += "| " + pad(r.key, kw) + " | " + pad(r.value, vw) + " |\n";
  }
  out += line;
  return out;
}

std::string render_grid(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size(), 0);
  for (size_t c = 0; c < header.size(); ++c) w[c] = width(header[c]);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], width(r[c]));
  std::string line = "+";
  for (size_t c : w) line += std::string(c + 2, '-') + "+";
  line += "\n";
  auto fmt_row = [&](const std::vector<std::string>& r) {
    std::string s = "|";
    for (size_t c = 0; c < w.size(); ++c) s += " " + pad(c < r.size() ? r[c] : "", w[c]) + " |";
    return s + "\n";
  };
  std::string out = line + fmt_row(header) + line;
  for (const auto& r : rows) out += fmt_row(r);
  return out + line;
}

}  // namespace disa::core
