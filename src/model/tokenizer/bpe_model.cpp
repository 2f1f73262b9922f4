// Byte-pair encoding with merge ranks and a thread-safe cache (see bpe_model.hpp).
#include "bpe_model.hpp"

#include <functional>
#include <queue>

#include "disa/core/error.hpp"
#include "unicode_text.hpp"

namespace disa::model::tokenizer_detail {

BpeModel::BpeModel(const Json& j, const JsonPath& at) {
  const std::string type = component_type(j, at);
  if (type != "BPE") not_implemented(at / "type", "model type '" + type + "'");

  auto dropout = j.find("dropout");
  if (dropout != j.end() && !dropout->is_null() && !(dropout->is_number() && dropout->get<double>() == 0.0))
    not_implemented(at / "dropout", "BPE dropout (it makes ids random)");
  if (!optional_string(j, "continuing_subword_prefix", at).empty())
    not_implemented(at / "continuing_subword_prefix", "a non-empty continuing_subword_prefix");
  if (!optional_string(j, "end_of_word_suffix", at).empty())
    not_implemented(at / "end_of_word_suffix", "a non-empty end_of_word_suffix");
  if (optional_bool(j, "byte_fallback", false, at)) not_implemented(at / "byte_fallback", "byte_fallback");
  ignore_merges_ = optional_bool(j, "ignore_merges", false, at);
  fuse_unk_ = optional_bool(j, "fuse_unk", false, at);

  const Json& vocab = require_field(j, "vocab", at);
  DISA_CHECK(vocab.is_object(), ModelError, "{}: expected an object of token: id", (at / "vocab").str());
  vocab_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    DISA_CHECK(it->is_number_integer() && it->get<int64_t>() >= 0 && it->get<int64_t>() < (int64_t(1) << 31),
               ModelError, "{}: id of token '{}' is not a non-negative 32-bit integer", (at / "vocab").str(), it.key());
    const auto id = static_cast<int32_t>(it->get<int64_t>());
    vocab_.emplace(it.key(), id);
    if (static_cast<size_t>(id) >= id_to_token_.size()) {
      id_to_token_.resize(id + 1);
      id_present_.resize(id + 1, false);
    }
    DISA_CHECK(!id_present_[id], ModelError, "{}: id {} is used by '{}' and '{}'", (at / "vocab").str(), id,
               id_to_token_[id], it.key());
    id_to_token_[id] = it.key();
    id_present_[id] = true;
  }

  const Json& merges = require_field(j, "merges", at);
  DISA_CHECK(merges.is_array(), ModelError, "{}: expected an array", (at / "merges").str());
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const Json& m = merges[rank];
    const JsonPath where = (at / "merges")[rank];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      DISA_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos, ModelError,
                 "{}: expected \"left right\" with one space, got '{}'", where.str(), s);
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      DISA_THROW(ModelError, "{}: expected \"left right\" or [\"left\", \"right\"]", where.str());
    }
    auto l = vocab_.find(left), r = vocab_.find(right), n = vocab_.find(left + right);
    DISA_CHECK(l != vocab_.end(), ModelError, "{}: token '{}' is not in the vocabulary", where.str(), left);
    DISA_CHECK(r != vocab_.end(), ModelError, "{}: token '{}' is not in the vocabulary", where.str(), right);
    DISA_CHECK(n != vocab_.end(), ModelError, "{}: merged token '{}' is not in the vocabulary", where.str(),
               left + right);
    // A repeated pair keeps its last rank, as HF's collect() into a HashMap does.
    merges_.insert_or_assign(pair_key(l->second, r->second), Merge{static_cast<int32_t>(rank), n->second});
  }

  const std::string unk = optional_string(j, "unk_token", at);
  if (!unk.empty()) {
    auto it = vocab_.find(unk);
    DISA_CHECK(it != vocab_.end(), ModelError, "{}: unk_token '{}' is not in the vocabulary", (at / "unk_token").str(),
               unk);
    unk_id_ = it->second;
  }
}

std::optional<int32_t> BpeModel::token_to_id(const std::string& token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::id_to_token(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size() || !id_present_[id]) return nullptr;
  return &id_to_token_[id];
}

void BpeModel::encode_piece(const std::string& piece, std::vector<int32_t>& ids) const {
  if (piece.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  Shard* shard = nullptr;
  if (cacheable) {
    shard = &cache_[std::hash<std::string>{}(piece) % kShards];
    std::lock_guard<std::mutex> lock(shard->mutex);
    auto it = shard->entries.find(piece);
    if (it != shard->entries.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> merged = merge_word(piece);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(shard->mutex);
    if (shard->entries.size() >= kShardCapacity) shard->entries.clear();
    shard->entries.emplace(piece, std::move(merged));
  }
}

std::vector<int32_t> BpeModel::merge_word(const std::string& piece) const {
  // Doubly linked list of symbols; a merged-away symbol has len 0.
  struct Symbol {
    int32_t id;
    int32_t prev, next;
    size_t len;
  };
  std::vector<Symbol> symbols;
  symbols.reserve(piece.size());
  size_t pos = 0;
  while (pos < piece.size()) {
    const size_t start = pos;
    const size_t len = utf8_length(static_cast<unsigned char>(piece[pos]));
    pos = std::min(piece.size(), pos + len);
    auto it = vocab_.find(piece.substr(start, pos - start));
    int32_t id;
    if (it != vocab_.end()) {
      id = it->second;
    } else if (unk_id_) {
      if (fuse_unk_ && !symbols.empty() && symbols.back().id == *unk_id_) {
        symbols.back().len += pos - start;
        continue;
      }
      id = *unk_id_;
    } else {
      DISA_THROW(DataError,
                 "tokenizer: character '{}' of piece '{}' is not in the BPE vocabulary and the "
                 "model has no unk_token",
                 piece.substr(start, pos - start), piece);
    }
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, pos - start});
  }
  const auto count = static_cast<int32_t>(symbols.size());
  if (count > 0) symbols.back().next = -1;

  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push_pair = [&](int32_t left) {
    const int32_t right = symbols[left].next;
    if (right < 0) return;
    auto it = merges_.find(pair_key(symbols[left].id, symbols[right].id));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.new_id});
  };
  for (int32_t i = 0; i + 1 < count; ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (left.len == 0 || left.next < 0) continue;
    const int32_t right_index = left.next;
    Symbol& right = symbols[right_index];
    // Stale entry: the pair at this position changed since it was queued.
    auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.new_id != top.new_id) continue;
    left.id = top.new_id;
    left.len += right.len;
    left.next = right.next;
    right.len = 0;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push_pair(left.prev);
    push_pair(top.pos);
  }

  std::vector<int32_t> ids;
  for (int32_t i = count > 0 ? 0 : -1; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
  return ids;
}

}  // namespace disa::model::tokenizer_detail
