// SPDX-License-Identifier: Apache-2.0
// Zero-shot task files (JSONL): every line through the document builder of each task kind
// (LAMBADA, multiple choice, WinoGrande's partial contexts), then the metrics on made-up scores.
#include <vector>

#include "dfrot/eval/zeroshot_metrics.hpp"
#include "dfrot/eval/zeroshot_tasks.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size) {
  auto const path = dfrot::fuzz::write_input(data, size, "task.jsonl");
  return dfrot::fuzz::expect_only_dfrot_errors([&] {
    for (char const* name : {"lambada_openai", "piqa", "arc_easy", "winogrande"}) {
      auto const& task = dfrot::eval::find_zeroshot_task(name);
      try {
        auto const docs = dfrot::eval::load_zeroshot_docs(task, path);
        std::vector<dfrot::eval::Loglikelihood> lls;
        for (auto const& d : docs)
          for (std::size_t i = 0; i < d.choices.size(); ++i) lls.push_back({-double(i + 1), i == 0, 1});
        (void)dfrot::eval::score_task(task, docs, lls);
      } catch (dfrot::Error const&) {
      }
    }
  });
}
