// The normalizers of tokenizer.json that disa implements (see normalizer.hpp).
#include "normalizer.hpp"

#include <vector>

#include "disa/core/error.hpp"
#include "unicode_text.hpp"

namespace disa::model::tokenizer_detail {
namespace {

class UnicodeNormalizer : public Normalizer {
 public:
  explicit UnicodeNormalizer(NormalForm form) : normalizer_(icu_normalizer(form)) {}
  std::string normalize(const std::string& text) const override { return normalize_unicode(text, normalizer_); }

 private:
  const icu::Normalizer2& normalizer_;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  std::string normalize(const std::string& text) const override {
    std::string out = text;
    for (const auto& p : parts_) out = p->normalize(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& at) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, at);
  if (type == "NFC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFC);
  if (type == "NFD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFD);
  if (type == "NFKC") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKC);
  if (type == "NFKD") return std::make_unique<UnicodeNormalizer>(NormalForm::NFKD);
  if (type == "Sequence") {
    const Json& list = require_field(j, "normalizers", at);
    if (!list.is_array()) not_implemented(at / "normalizers", "a non-array value");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_normalizer(list[i], (at / "normalizers")[i]);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequenceNormalizer>(std::move(parts));
  }
  not_implemented(at / "type", "normalizer type '" + type + "'");
}

}  // namespace disa::model::tokenizer_detail
