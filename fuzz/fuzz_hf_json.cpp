// SPDX-License-Identifier: Apache-2.0
// HF JSON: the first byte picks config.json (hyper-parameters) or tokenizer.json (vocabulary,
// merges, pre-tokenizer; a tokenizer that loads then encodes and decodes a fixed text).
#include <string_view>

#include "dfrot/io/file_read.hpp"
#include "dfrot/io/hf_tokenizer.hpp"
#include "dfrot/io/llama_checkpoint.hpp"
#include "dfrot/tokenizer/tokenizer.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view const text(reinterpret_cast<char const*>(data) + 1, size - 1);
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    nlohmann::json const j = dfrot::io::parse_json(text, "fuzz.json");
    if (data[0] & 1) {
      (void)dfrot::io::hparams_from_hf_config(j, "config.json");
      return;
    }
    auto tok = dfrot::io::tokenizer_from_hf_json(j, "tokenizer.json");
    if (!tok) return;
    dfrot::tokenizer::Tokenizer const t(std::move(*tok));
    (void)t.decode(t.encode("Hello world, 123 \xE2\x96\x81 caf\xC3\xA9!", true));
  });
}
