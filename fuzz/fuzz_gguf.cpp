// SPDX-License-Identifier: Apache-2.0
// GGUF: header, metadata, tensor table, dequantization of every tensor, hyper-parameters, the
// tokenizer, and the whole checkpoint loader.
#include "dfrot/io/gguf.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const path = dfrot::fuzz::write_input(data, size, "model.gguf");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    dfrot::io::GgufFile const f(path);
    for (auto const& t : f.tensors()) {
      if (t.n_elements <= (std::uint64_t{1} << 22)) (void)f.read_f32(t);
    }
    try {
      (void)dfrot::io::gguf_llama_hparams(f);
    } catch (dfrot::Error const&) {
    }
    (void)dfrot::io::tokenizer_from_gguf(f);
    (void)dfrot::io::load_llama_checkpoint(path);
  });
}
