// SPDX-License-Identifier: Apache-2.0
// dfrot: rotation-based 4-bit quantization toolkit. Dispatches to one subcommand per verb.
#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include "common/commands.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/version.hpp"

namespace {

struct Verb {
  char const* name;
  char const* help;
  dfrot::app::CommandAction (*add)(CLI::App&, dfrot::app::CommonOptions&);
};

Verb const kVerbs[] = {
    {"ppl", "WikiText-2 perplexity of a model (non-overlapping windows, papers' protocol)",
     dfrot::app::add_ppl_command},
    {"eval", "lm-eval zero-shot accuracies (PIQA, WinoGrande, ARC-e/c, LAMBADA) with standard errors",
     dfrot::app::add_eval_command},
    {"quantize", "Rotate and quantize a model once (RTN or GPTQ) and save it for dfrot ppl",
     dfrot::app::add_quantize_command},
    {"optimize", "Learn the residual rotation R1 (DFRot Procrustes or Cayley SGD) into a .npy",
     dfrot::app::add_optimize_command},
    {"hadamard", "Hadamard transforms of given sizes: factorization, checks, speed",
     dfrot::app::add_hadamard_command},
    {"inspect", "Outliers of the RMSNorm outputs: massive tokens, kurtosis, 4-bit error, RO vs RH",
     dfrot::app::add_inspect_command},
    {"run", "Generate text from a prompt (llama-cli style; --chat for the chat template)",
     dfrot::app::add_run_command},
    {"bench", "Prefill and decode throughput, tok/s (llama-bench style pp512 / tg128)",
     dfrot::app::add_bench_command},
    {"synth", "Write a synthetic LLaMA GGUF of a real shape (7B, 70B, ...) with random weights",
     dfrot::app::add_synth_command},
};

}  // namespace

int main(int argc, char** argv) {
#if defined(__AVX2__)
  // Built for x86-64-v3 (DFROT_APP_ARCH): stop with a message instead of SIGILL on older CPUs.
  if (dfrot::detected_isa() < dfrot::Isa::kAvx2) {
    std::fprintf(stderr, "error: this dfrot was built for AVX2+FMA CPUs; rebuild with "
                         "-DDFROT_APP_ARCH=x86-64 for this one\n");
    return 1;
  }
#endif
  CLI::App app{"dfrot " DFROT_VERSION_STRING
               ": rotation-based 4-bit quantization of LLaMA-family models (QuaRot, DFRot)"};
  app.set_version_flag("--version", DFROT_VERSION_STRING);
  app.require_subcommand(1);
  dfrot::app::CommonOptions common;
  std::vector<std::pair<CLI::App*, dfrot::app::CommandAction>> commands;
  for (Verb const& verb : kVerbs) {
    CLI::App* sub = app.add_subcommand(verb.name, verb.help);
    // A later flag overrides an earlier one (scripts append overrides to a default command line).
    sub->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    sub->add_option("-t,--threads", common.n_threads, "CPU threads (<= 0: all cores)")
        ->capture_default_str();
    sub->add_option("--isa", common.isa, "CPU kernel level: auto, scalar, avx2, avx512, avx512vnni, amx")
        ->capture_default_str();
    sub->add_option("-s,--seed", common.seed, "random seed")->capture_default_str();
    sub->add_flag("--json", common.json, "print the report as JSON on stdout");
    commands.emplace_back(sub, verb.add(*sub, common));
  }
  try {
    app.parse(argc, argv);
  } catch (CLI::ParseError const& e) {
    return app.exit(e);
  }
  try {
    if (common.isa != "auto") dfrot::set_isa(dfrot::parse_isa(common.isa));
    std::fprintf(stderr, "isa: %s (detected), using %s\n",
                 std::string(dfrot::to_string(dfrot::detected_isa())).c_str(),
                 std::string(dfrot::to_string(dfrot::active_isa())).c_str());
    if (std::string const amx = dfrot::amx_unavailable_reason(); !amx.empty()) {
      std::fprintf(stderr, "isa: this CPU has AMX-INT8 but it is not used: %s\n", amx.c_str());
    }
    for (auto& [sub, action] : commands) {
      if (sub->parsed()) return action();
    }
  } catch (dfrot::UsageError const& e) {
    std::fprintf(stderr, "usage error: %s\n", e.what());
    return 2;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
