// SPDX-License-Identifier: Apache-2.0
// Main of the GPU tests: exit code 77 (ctest SKIP_RETURN_CODE) when no CUDA device is present.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "dfrot/core/cuda/device_buffer.hpp"

int main(int argc, char** argv) {
  if (dfrot::cuda::device_count() == 0) {
    std::printf("no CUDA device: GPU tests skipped\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
