// Training data loaders (the data contract): memory-mapped token datasets cut into samples of
// T+1 tokens over the concatenated documents (Megatron-style), shuffled from (seed, epoch),
// dealt to data-parallel ranks in disjoint slices, blended by weight, carved into train/valid/test
// by documents, and resumable: state() records the exact position. Mock mode draws random tokens.
//
// Sample order: global sample g of a step belongs to rank (g / B) % dp_size, so every rank reads a
// disjoint slice and a resumed loader (any dp layout with the same B) continues where it stopped.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "config/experiment.h"

namespace primus::data {

enum class Split { kTrain, kValid, kTest };

class TokenLoader {
 public:
  virtual ~TokenLoader() = default;
  // Fills inputs and targets, each (B,T) int32 host memory; targets are inputs shifted by one.
  virtual void next(int32_t* inputs, int32_t* targets) = 0;
  virtual nlohmann::json state() const = 0;           // exact position; saved in checkpoints
  virtual void restore(const nlohmann::json& state) = 0;
  virtual void rewind() = 0;                          // back to the start (validation passes)
};

// Throws primus::usage_error for bad arguments and primus::Error naming the file for bad data.
// Token ids >= vocab_size are reported (naming the file) when they are read; vocab_size <= 0 skips it.
std::unique_ptr<TokenLoader> make_loader(const config::DataConfig& data, Split split, int64_t B, int64_t T,
                                         int dp_rank, int dp_size, uint64_t seed, int64_t vocab_size);

// "98,1,1" -> fractions summing to 1; throws primus::usage_error.
std::array<double, 3> parse_split(const std::string& text);
// [begin, end) of the units of split `s` when n units are carved by `fractions` (Megatron rounding).
std::array<int64_t, 2> split_range(const std::array<double, 3>& fractions, int64_t n, Split s);

const char* split_name(Split s);

}  // namespace primus::data
