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

}  // namespace dfrot::app
