// SPDX-License-Identifier: Apache-2.0
// The dfrot exception hierarchy and DFROT_THROW_IF (user-facing errors; see STYLE.md B.9).
#pragma once

#include <stdexcept>
#include <string>

#include "dfrot/core/format.hpp"

namespace dfrot {

/// Base of every error dfrot throws. Messages read "<where>: <what is wrong>: <expected> vs <actual>".
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
/// Bad command-line usage or configuration (apps exit with code 2).
class UsageError : public Error { using Error::Error; };
/// A file could not be opened, read or written.
class IoError : public Error { using Error::Error; };
/// A file's content is malformed (bad magic, truncation, out-of-bounds offsets).
class FormatError : public Error { using Error::Error; };
/// Shapes or sizes that an operation does not support.
class ShapeError : public Error { using Error::Error; };
/// A numerical procedure failed (non-finite values, divergence).
class NumericError : public Error { using Error::Error; };
/// A CUDA runtime / library call failed.
class CudaError : public Error { using Error::Error; };

}  // namespace dfrot

/// Throws `Kind(str_cat(parts...))` when `cond` holds.
#define DFROT_THROW_IF(cond, Kind, ...)              \
  do {                                               \
    if (cond) throw Kind(::dfrot::str_cat(__VA_ARGS__)); \
  } while (0)
