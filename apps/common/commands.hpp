// SPDX-License-Identifier: Apache-2.0
// The subcommand registry: each apps/<verb>/ source declares its flags on a CLI11 subcommand and
// returns the action main() runs after parsing.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace dfrot::app {

/// Flags every subcommand shares (STYLE.md B.7).
struct CommonOptions {
  int n_threads = 0;          ///< -t; <= 0 = all cores
  std::string isa = "auto";   ///< --isa
  bool json = false;          ///< --json
  std::uint64_t seed = 0;     ///< -s
};

/// Runs after parsing; returns the process exit code.
using CommandAction = std::function<int()>;

/// `dfrot hadamard`: factorizations, constructions, round-trip errors and speed of T_n.
CommandAction add_hadamard_command(CLI::App& sub, CommonOptions& common);
/// `dfrot ppl`: WikiText-2 perplexity of a model (papers' protocol).
CommandAction add_ppl_command(CLI::App& sub, CommonOptions& common);
/// `dfrot eval`: lm-eval 0.4 zero-shot accuracies with standard errors.
CommandAction add_eval_command(CLI::App& sub, CommonOptions& common);
/// `dfrot optimize`: learn R1 (DFRot weighted Procrustes or Cayley SGD) and write it as .npy.
CommandAction add_optimize_command(CLI::App& sub, CommonOptions& common);
/// `dfrot quantize`: rotate + quantize a model once and save it (GGUF with dfrot.* keys).
CommandAction add_quantize_command(CLI::App& sub, CommonOptions& common);
/// `dfrot inspect`: massive activations, kurtosis and per-token 4-bit error of the RMSNorm
/// outputs, unrotated vs random orthogonal vs randomized Hadamard; optional SVG plot.
CommandAction add_inspect_command(CLI::App& sub, CommonOptions& common);
/// `dfrot run`: text generation (llama-cli style), streamed to stdout; speeds on stderr.
CommandAction add_run_command(CLI::App& sub, CommonOptions& common);
/// `dfrot bench`: prefill (pp) and decode (tg) throughput of models (llama-bench style).
CommandAction add_bench_command(CLI::App& sub, CommonOptions& common);
/// `dfrot synth`: a synthetic LLaMA-family GGUF of a real shape (large-model benchmarks).
CommandAction add_synth_command(CLI::App& sub, CommonOptions& common);

}  // namespace dfrot::app
