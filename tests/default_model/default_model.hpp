// SPDX-License-Identifier: Apache-2.0
// Where the default-model tests find SmolLM2-135M-Instruct, and their skip rule.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace dfrot::test {

inline std::filesystem::path default_model_path() {
  return std::filesystem::path(DFROT_SOURCE_DIR) / "data/models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

/// True when the model is there; otherwise skips with a message, or fails when
/// DFROT_REQUIRE_MODEL=1 (CI), where a missing model is an error.
inline bool default_model_available() {
  if (std::filesystem::exists(default_model_path())) return true;
  char const* require = std::getenv("DFROT_REQUIRE_MODEL");
  if (require != nullptr && std::string(require) == "1") {
    FAIL("default model missing at ", default_model_path().string(), " (run scripts/fetch_model.sh)");
  }
  MESSAGE("skipped: default model missing at ", default_model_path().string());
  return false;
}

}  // namespace dfrot::test
