// SPDX-License-Identifier: Apache-2.0
// safetensors: the length-prefixed JSON header, dtypes, shapes, offsets, and conversion to float.
#include "dfrot/io/safetensors.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const path = dfrot::fuzz::write_input(data, size, "model.safetensors");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    dfrot::io::SafetensorsFile const f(path);
    for (auto const& t : f.tensors()) {
      std::uint64_t n = 1;
      for (auto d : t.shape) n *= d;
      if (n <= (std::uint64_t{1} << 22)) (void)f.read_f32(t);
    }
  });
}
