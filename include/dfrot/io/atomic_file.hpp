// SPDX-License-Identifier: Apache-2.0
// AtomicOutputFile: an output written to a temporary file beside its destination and renamed over
// it only once complete, so an interrupted or failed run never leaves a half-written file that a
// later run would load.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "dfrot/core/error.hpp"

namespace dfrot::io {

class AtomicOutputFile {
 public:
  /// Creates `<path>.tmp.<pid>` in the destination's folder. \throws IoError naming `what`.
  AtomicOutputFile(std::filesystem::path path, std::string_view what)
      : path_(std::move(path)),
        temp_(path_.string() + ".tmp." + std::to_string(::getpid())),
        what_(what) {
    out_.open(temp_, std::ios::binary | std::ios::trunc);
    DFROT_THROW_IF(!out_, IoError, what_, " '", path_.string(), "': cannot create '",
                   temp_.string(), "'");
  }
  AtomicOutputFile(AtomicOutputFile const&) = delete;
  AtomicOutputFile& operator=(AtomicOutputFile const&) = delete;
  /// Without commit(): removes the temporary file; the destination is left as it was.
  ~AtomicOutputFile() {
    if (committed_) return;
    out_.close();
    std::error_code ec;
    std::filesystem::remove(temp_, ec);
  }

  std::ofstream& stream() { return out_; }

  /// Flushes, closes and renames the temporary file over the destination.
  /// \throws IoError naming `what` when a write failed (disk full) or the rename fails.
  void commit() {
    out_.flush();
    out_.close();
    DFROT_THROW_IF(!out_, IoError, what_, " '", path_.string(), "': write failed (disk full?)");
    std::error_code ec;
    std::filesystem::rename(temp_, path_, ec);
    DFROT_THROW_IF(ec, IoError, what_, " '", path_.string(), "': cannot rename '", temp_.string(),
                   "' over it: ", ec.message());
    committed_ = true;
  }

 private:
  std::filesystem::path path_;
  std::filesystem::path temp_;
  std::string what_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace dfrot::io
