// SPDX-License-Identifier: Apache-2.0
// llama2.c: the first byte picks the checkpoint (.bin: config header + float32 tensors) or its
// tokenizer.bin (max length, then score / length / bytes per token).
#include "dfrot/io/llama2c.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  auto const path = dfrot::fuzz::write_input(data + 1, size - 1, "llama2c.bin");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    if (data[0] & 1) {
      (void)dfrot::io::read_llama2c_tokenizer(path, 512);
    } else {
      (void)dfrot::io::read_llama2c(path);
    }
  });
}
