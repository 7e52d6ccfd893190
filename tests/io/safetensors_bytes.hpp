// SPDX-License-Identifier: Apache-2.0
// A test-side safetensors encoder (8-byte header length, JSON header, raw data) for F32, F16,
// BF16 (truncated) and I64 tensors, with an optional corrupted data_offsets end; the HF converter's
// q/k row permutation.
#pragma once

#include <bit>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/io_test_util.hpp"

namespace dfrot::test {

struct StTensor {
  std::string dtype;
  std::vector<std::size_t> shape;
  std::vector<float> values;
};

inline std::vector<std::uint8_t> encode(StTensor const& t) {
  std::vector<std::uint8_t> out;
  for (float x : t.values) {
    if (t.dtype == "F32") put(out, x);
    if (t.dtype == "F16") put(out, to_half(x));
    if (t.dtype == "BF16") put(out, static_cast<std::uint16_t>(std::bit_cast<std::uint32_t>(x) >> 16));
    if (t.dtype == "I64") put(out, static_cast<std::int64_t>(x));
  }
  return out;
}

/// The file's bytes; tensor `patch_name`'s end offset is moved `patch_end_extra` bytes on.
inline std::vector<std::uint8_t> safetensors_bytes(std::map<std::string, StTensor> const& tensors,
                                                   std::string const& patch_name = "",
                                                   std::size_t patch_end_extra = 0) {
  nlohmann::json header = nlohmann::json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<std::uint8_t> data;
  for (auto const& [name, t] : tensors) {
    auto const bytes = encode(t);
    std::size_t const begin = data.size();
    data.insert(data.end(), bytes.begin(), bytes.end());
    std::size_t const end = data.size() + (name == patch_name ? patch_end_extra : 0);
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {begin, end}}};
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';
  std::vector<std::uint8_t> out;
  put(out, static_cast<std::uint64_t>(text.size()));
  out.insert(out.end(), text.begin(), text.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

// The Meta -> HF row permutation of the HF converter (view(heads, hd/2, 2, cols).transpose(1, 2)):
// HF row h*hd + p*hd/2 + i takes Meta row h*hd + 2i + p.
inline std::vector<float> meta_to_hf(std::vector<float> const& w, std::size_t heads, std::size_t hd,
                                     std::size_t cols) {
  std::vector<float> out(w.size());
  for (std::size_t h = 0; h < heads; ++h)
    for (std::size_t i = 0; i < hd / 2; ++i)
      for (std::size_t p = 0; p < 2; ++p)
        for (std::size_t c = 0; c < cols; ++c)
          out[(h * hd + p * hd / 2 + i) * cols + c] = w[(h * hd + 2 * i + p) * cols + c];
  return out;
}

}  // namespace dfrot::test
