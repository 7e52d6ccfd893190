// SPDX-License-Identifier: Apache-2.0
// Shared doctest main: prints the test seed (DFROT_TEST_SEED) and the CPU level once.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "dfrot/core/isa.hpp"
#include "support/test_util.hpp"

int main(int argc, char** argv) {
  std::printf("dfrot tests: seed %llu, cpu %s\n",
              static_cast<unsigned long long>(dfrot::test::seed()),
              std::string(dfrot::to_string(dfrot::detected_isa())).c_str());
  doctest::Context context(argc, argv);
  return context.run();
}
