// tokenizer.json "model" of type BPE: vocabulary, merge ranks (both the "a b" string and
// the ["a", "b"] pair format), ignore_merges, unk_token/fuse_unk. Pieces are merged with
// a priority queue ordered by (rank, position), as HF's Word::merge_all, and results are
// kept in a lock-sharded cache so encode can run on many threads.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class BpeModel {
 public:
  BpeModel(const Json& j, const JsonPath& at);
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of one pre-tokenized piece to `ids`.
  void encode_piece(const std::string& piece, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_to_id(const std::string& token) const;
  // nullptr if `id` is not in the vocabulary.
  const std::string* id_to_token(int32_t id) const;
  // max id + 1 of the vocabulary.
  int64_t id_bound() const { return static_cast<int64_t>(id_to_token_.size()); }
  size_t merge_count() const { return merges_.size(); }

 private:
  std::vector<int32_t> merge_word(const std::string& piece) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> id_present_;
  std::unordered_map<uint64_t, Merge> merges_;
  bool ignore_merges_ = false;
  std::optional<int32_t> unk_id_;
  bool fuse_unk_ = false;

  // Cache of encoded pieces, sharded by hash; a full shard is cleared.
  static constexpr size_t kShards = 32;
  static constexpr size_t kShardCapacity = 4096;
  static constexpr size_t kMaxCachedPieceBytes = 256;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>> entries;
  };
  mutable std::array<Shard, kShards> cache_;
};

}  // namespace disa::model::tokenizer_detail
