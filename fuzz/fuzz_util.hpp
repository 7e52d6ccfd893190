// SPDX-License-Identifier: Apache-2.0
// Shared plumbing of the libFuzzer targets: the input as a file (dfrot's loaders take paths, and
// mmap it like a real model file), and the rule every target enforces: malformed input may only
// end in a dfrot::Error (a clear message naming the file); any other exception, a crash, a
// sanitizer report, a hang or a huge allocation is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "dfrot/core/error.hpp"

namespace dfrot::fuzz {

/// A per-process scratch file holding the current input (tmpfs when available).
inline std::filesystem::path const& input_path(char const* name) {
  static std::filesystem::path const p = [name] {
    std::filesystem::path dir = std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return dir / (std::string("dfrot_fuzz_") + std::to_string(::getpid()) + "_" + name);
  }();
  return p;
}

inline std::filesystem::path write_input(std::uint8_t const* data, std::size_t size, char const* name) {
  std::filesystem::path const& p = input_path(name);
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<char const*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) std::abort();
  return p;
}

/// Runs `body`; a dfrot::Error is the expected outcome for malformed input, anything else aborts.
template <class Body>
int expect_only_dfrot_errors(Body&& body) {
  try {
    body();
  } catch (Error const&) {
  } catch (std::exception const& e) {
    std::fprintf(stderr, "fuzz: a non-dfrot exception escaped: %s\n", e.what());
    std::abort();
  }
  return 0;
}

}  // namespace dfrot::fuzz
