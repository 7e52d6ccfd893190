// SPDX-License-Identifier: Apache-2.0
// The int4 engine's model file (GGUF version 2 with dfrot.* keys, packed codes, scales, row sums):
// the scheme keys, every tensor's type and shape, the codes' row sums, then the engine itself.
#include "dfrot/pipeline/model_file.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const path = dfrot::fuzz::write_input(data, size, "int4.gguf");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    if (!dfrot::pipeline::read_quantized_model_info(path)) return;
    dfrot::pipeline::Int4Model const m = dfrot::pipeline::load_int4_model(path, 16);
    std::vector<int> const tokens = {1, 2};
    auto cache = m.model->make_cache();
    (void)m.model->forward(tokens, cache, nullptr, {.n_threads = 1});
  });
}
