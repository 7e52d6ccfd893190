// SPDX-License-Identifier: Apache-2.0
// The subcommand registry: each apps/<verb>/ source adds its flags to the shared CLI11 app.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace dfrot::app {

/// Flags every subcommand shares (STYLE.md B.7).
struct CommonOptions {
  int n_threads = 0;          ///< -t; <= 0 = all cores
  std::string isa = "auto";   ///< --isa
  bool json = false;          ///< --json
  std::uint64_t seed = 0;     ///< -s
};

/// A registered subcommand: `add` declares flags on `sub` and returns the action run after parsing.
using CommandAction = std::function<int()>;

/// Adds `dfrot hadamard`.
CommandAction add_hadamard_command(CLI::App& sub, CommonOptions& common);

}  // namespace dfrot::app
