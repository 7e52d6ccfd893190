// SPDX-License-Identifier: Apache-2.0
// dfrot: rotation-based 4-bit quantization toolkit. Dispatches to one subcommand per verb.
#include <cstdio>
#include <exception>

#include "common/commands.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/version.hpp"

int main(int argc, char** argv) {
  CLI::App app{"dfrot " DFROT_VERSION_STRING
               ": rotation-based 4-bit quantization of LLaMA-family models (QuaRot, DFRot)"};
  app.set_version_flag("--version", DFROT_VERSION_STRING);
  app.require_subcommand(1);
  dfrot::app::CommonOptions common;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("-t,--threads", common.n_threads, "CPU threads (<= 0: all cores)")
        ->capture_default_str();
    sub->add_option("--isa", common.isa, "CPU kernel level: auto, scalar, avx2, avx512, avx512vnni")
        ->capture_default_str();
    sub->add_option("-s,--seed", common.seed, "random seed")->capture_default_str();
    sub->add_flag("--json", common.json, "print the report as JSON");
    return sub;
  };
  CLI::App* hadamard = add_common(
      app.add_subcommand("hadamard", "Hadamard transforms of given sizes: factorization, checks, speed"));
  auto hadamard_action = dfrot::app::add_hadamard_command(*hadamard, common);

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
    if (hadamard->parsed()) return hadamard_action();
  } catch (dfrot::UsageError const& e) {
    std::fprintf(stderr, "usage error: %s\n", e.what());
    return 2;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
