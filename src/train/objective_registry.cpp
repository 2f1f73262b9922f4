// The registered objectives (include/disa/train/objective.hpp): one line per algorithm.
// Adding an algorithm: a file objective_<name>.cpp defining make_<name>_objective and
// add_<name>_options (its own options, bound to Settings fields), and its name in
// DISA_OBJECTIVES below.
#include <algorithm>

#include "disa/core/error.hpp"
#include "disa/core/option_table.hpp"
#include "disa/train/objective.hpp"

#define DISA_OBJECTIVES(X) X(disa) X(flowrl) X(grpo) X(gspo) X(sft)

namespace disa::train {

#define DISA_DECLARE_OBJECTIVE(name)                                           \
  std::unique_ptr<Objective> make_##name##_objective(const ObjectiveContext&); \
  void add_##name##_options(core::OptionTable<Settings>&);
DISA_OBJECTIVES(DISA_DECLARE_OBJECTIVE)
#undef DISA_DECLARE_OBJECTIVE

namespace {

struct Registration {
  const char* name;
  std::unique_ptr<Objective> (*make)(const ObjectiveContext&);
  void (*add_options)(core::OptionTable<Settings>&);
};

const std::vector<Registration>& registry() {
#define DISA_REGISTER_OBJECTIVE(name) Registration{#name, &make_##name##_objective, &add_##name##_options},
  static const std::vector<Registration> r{DISA_OBJECTIVES(DISA_REGISTER_OBJECTIVE)};
#undef DISA_REGISTER_OBJECTIVE
  return r;
}

}  // namespace

std::vector<std::string> objective_names() {
  std::vector<std::string> names;
  for (const auto& r : registry()) names.emplace_back(r.name);
  return names;
}

void add_objective_options(core::OptionTable<Settings>& table) {
  for (const auto& r : registry()) r.add_options(table);
}

std::unique_ptr<Objective> make_objective(const ObjectiveContext& context) {
  const std::string& name = context.settings.algorithm_name;
  for (const auto& r : registry())
    if (name == r.name) return r.make(context);
  std::string known;
  for (const auto& n : objective_names()) known += (known.empty() ? "" : ", ") + n;
  DISA_THROW(ConfigError, "option --train.algorithm: unknown algorithm '{}' (one of {})", name, known);
}

}  // namespace disa::train
