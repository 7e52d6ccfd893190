// SPDX-License-Identifier: Apache-2.0
// Synthetic LLaMA-family GGUF models of real shapes (LLaMA-2-7B/13B/70B, LLaMA-3-8B, LLaMA-3.2-1B)
// with random weights, written tensor by tensor: the inputs of the large-model benchmarks
// (bench/large_models.sh), since no real 7B weights are reachable from the build machines.
// Weights are Gaussian with std 1/√fan_in (norm scales 1 + 0.1·N(0,1)), a SentencePiece-style
// vocabulary of byte and filler pieces; nothing about them is meant to predict text.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "dfrot/io/gguf_dequant.hpp"
#include "dfrot/io/llama_checkpoint.hpp"

namespace dfrot::app {

struct SyntheticShape {
  std::string name;
  io::LlamaHParams hp;
};

/// The known shapes, smallest first ("tiny" is for tests).
std::vector<SyntheticShape> const& synthetic_shapes();
/// \throws UsageError naming the known shapes.
SyntheticShape const& synthetic_shape(std::string const& name);

/// <unk>, <s>, </s>, the 256 byte pieces <0xXX>, "▁", printable ASCII alone and after "▁", then
/// filler pieces "▁w<i>".
io::TokenizerData synthetic_tokenizer(std::size_t vocab);

/// Bytes of the file write_synthetic_model writes (tensor data and padding; the header is extra).
std::uintmax_t synthetic_tensor_bytes(io::LlamaHParams const& hp, io::GgmlType type);

/// Writes the model: norms in F32, every matrix in `type` (F16, BF16, F32, Q8_0 or Q4_0).
/// Deterministic for a seed, whatever `n_threads`. `progress(done, total)` after each tensor.
/// \throws UsageError for another type, IoError when the file cannot be written.
void write_synthetic_model(std::filesystem::path const& path, io::LlamaHParams const& hp,
                           io::GgmlType type, std::uint64_t seed, int n_threads,
                           std::function<void(std::size_t, std::size_t)> const& progress = {});

}  // namespace dfrot::app
