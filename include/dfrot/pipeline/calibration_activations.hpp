// SPDX-License-Identifier: Apache-2.0
// CalibrationActivations: the residual-stream activations of the calibration windows that
// sequential GPTQ carries from layer to layer — in memory, or in a scratch file when N windows ×
// T × d floats do not fit (128 × 2048 × 8192 × 4 B = 8.6 GB for a 70B model). The file is
// unlinked as soon as it is created, so no run, not even a killed one, leaves it behind.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/model/llama_model.hpp"

namespace dfrot::pipeline {

class CalibrationActivations {
 public:
  /// Window i holds rows[i] × cols floats; in memory when `scratch_dir` is empty, else in a file
  /// there. \throws IoError naming the folder when the file cannot be created.
  CalibrationActivations(std::vector<std::size_t> rows, std::size_t cols,
                         std::filesystem::path const& scratch_dir = {})
      : rows_(std::move(rows)), cols_(cols) {
    std::size_t offset = 0;
    for (std::size_t r : rows_) {
      offsets_.push_back(offset);
      offset += r * cols_ * sizeof(float);
    }
    bytes_ = offset;
    if (scratch_dir.empty()) {
      memory_.resize(rows_.size());
      return;
    }
    std::string name = (scratch_dir / "dfrot-calibration-XXXXXX").string();
    fd_ = ::mkstemp(name.data());
    DFROT_THROW_IF(fd_ < 0, IoError, "scratch folder '", scratch_dir.string(),
                   "': cannot create a file: ", std::strerror(errno));
    ::unlink(name.c_str());  // the space is freed when fd_ closes, whatever happens
    where_ = scratch_dir;
  }
  CalibrationActivations(CalibrationActivations const&) = delete;
  CalibrationActivations& operator=(CalibrationActivations const&) = delete;
  ~CalibrationActivations() {
    if (fd_ >= 0) ::close(fd_);
  }

  std::size_t size() const noexcept { return rows_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::vector<std::size_t> const& rows() const noexcept { return rows_; }
  std::size_t cols() const noexcept { return cols_; }
  /// The scratch folder, or empty when the activations are in memory.
  std::filesystem::path const& scratch_dir() const noexcept { return where_; }

  /// Window i ([rows[i], cols]). \throws IoError when the scratch file cannot be read.
  model::RowMatrixF load(std::size_t i) const {
    if (fd_ < 0) return memory_.at(i);
    model::RowMatrixF x(static_cast<Eigen::Index>(rows_.at(i)), static_cast<Eigen::Index>(cols_));
    transfer(i, x.data(), false);
    return x;
  }
  /// Replaces window i. \throws ShapeError for another shape, IoError when the file write fails.
  void store(std::size_t i, model::RowMatrixF x) {
    DFROT_THROW_IF(static_cast<std::size_t>(x.rows()) != rows_.at(i) || static_cast<std::size_t>(x.cols()) != cols_,
                   ShapeError, "calibration activations: window ", i, " is ", x.rows(), "×", x.cols(),
                   ", expected ", rows_[i], "×", cols_);
    if (fd_ < 0) {
      memory_[i] = std::move(x);
      return;
    }
    transfer(i, x.data(), true);
  }

 private:
  void transfer(std::size_t i, float* p, bool write) const {
    std::size_t const n = rows_[i] * cols_ * sizeof(float);
    std::size_t done = 0;
    while (done < n) {
      char* const at = reinterpret_cast<char*>(p) + done;
      off_t const off = static_cast<off_t>(offsets_[i] + done);
      ssize_t const k = write ? ::pwrite(fd_, at, n - done, off) : ::pread(fd_, at, n - done, off);
      if (k < 0 && errno == EINTR) continue;
      DFROT_THROW_IF(k <= 0, IoError, "calibration scratch file in '", where_.string(), "': ",
                     write ? "write" : "read", " of window ", i, " failed: ",
                     k < 0 ? std::strerror(errno) : "short transfer (disk full?)");
      done += static_cast<std::size_t>(k);
    }
  }

  std::vector<std::size_t> rows_, offsets_;
  std::size_t cols_ = 0, bytes_ = 0;
  std::vector<model::RowMatrixF> memory_;
  int fd_ = -1;
  std::filesystem::path where_;
};

}  // namespace dfrot::pipeline
