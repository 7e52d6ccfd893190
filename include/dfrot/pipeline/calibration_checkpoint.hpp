// SPDX-License-Identifier: Apache-2.0
// CalibrationCheckpoint: the calibration activations a streamed GPTQ run carries between layers,
// saved beside its partial output so that `--resume` continues at the layer they feed instead of
// starting again at layer 0 (a 70B run takes hours per layer on a CPU). The file is written
// through io::AtomicOutputFile (a temporary file renamed when complete), so a checkpoint is whole
// or absent; it records the layer whose inputs it holds and a fingerprint of the calibration
// windows, so that activations of other windows are never continued.
//
// Layout (little-endian): "DFROTCAL" | u32 version | u64 layer | u64 fingerprint | u64 windows |
// u64 cols | u64 rows[windows] | float32 window 0, window 1, …
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/eval/calibration.hpp"
#include "dfrot/io/atomic_file.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/mapped_file.hpp"
#include "dfrot/pipeline/calibration_activations.hpp"

namespace dfrot::pipeline {

/// FNV-1a over the windows' lengths and tokens: which calibration data a checkpoint was made of.
inline std::uint64_t calibration_fingerprint(eval::CalibrationSet const& calib) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::uint64_t v) {
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xffu;
      h *= 1099511628211ull;
    }
  };
  mix(calib.windows.size());
  for (auto const& w : calib.windows) {
    mix(w.size());
    for (int t : w) mix(static_cast<std::uint32_t>(t));
  }
  return h;
}

class CalibrationCheckpoint {
 public:
  explicit CalibrationCheckpoint(std::filesystem::path path) : path_(std::move(path)) {}

  std::filesystem::path const& path() const noexcept { return path_; }

  /// The layer whose inputs the saved activations are, or nullopt when there is no checkpoint.
  /// \throws FormatError naming the file when it is damaged, or was made of other calibration
  /// windows (`fingerprint`) or another shape than `xs`.
  std::optional<std::size_t> saved_layer(std::uint64_t fingerprint, CalibrationActivations const& xs) const {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return std::nullopt;
    io::MappedFile const file(path_);
    Header const h = read_header(file);
    DFROT_THROW_IF(h.fingerprint != fingerprint || h.rows != xs.rows() || h.cols != xs.cols(), FormatError,
                   "calibration checkpoint '", path_.string(), "' was made of other calibration windows "
                   "than this run (--calib, --nsamples, --seqlen); remove it or run without --resume");
    std::size_t const expect = header_bytes(h.rows.size()) + xs.bytes();
    DFROT_THROW_IF(file.size() != expect, FormatError, "calibration checkpoint '", path_.string(), "' has ",
                   file.size(), " bytes, expected ", expect, " (damaged); remove it");
    return h.layer;
  }

  /// Refills `xs` from the file (after saved_layer accepted it), one window resident at a time.
  /// \throws IoError when the file cannot be mapped.
  void load(CalibrationActivations& xs) const {
    io::MappedFile const file(path_);
    std::size_t off = header_bytes(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
      model::RowMatrixF x(static_cast<Eigen::Index>(xs.rows()[i]), static_cast<Eigen::Index>(xs.cols()));
      std::size_t const n = static_cast<std::size_t>(x.size()) * sizeof(float);
      DFROT_THROW_IF(off + n > file.size(), FormatError, "calibration checkpoint '", path_.string(),
                     "': truncated at window ", i, " (damaged); remove it");
      std::memcpy(x.data(), file.bytes().data() + off, n);
      file.release(off, n);
      off += n;
      xs.store(i, std::move(x));
    }
  }

  /// Saves `xs` as the inputs of `layer`, replacing any older checkpoint atomically.
  /// \throws IoError naming the file when it cannot be written (disk full).
  void save(CalibrationActivations const& xs, std::size_t layer, std::uint64_t fingerprint) const {
    io::AtomicOutputFile file(path_, "calibration checkpoint");
    std::ostream& out = file.stream();
    out.write(kMagic.data(), kMagic.size());
    put(out, kVersion);
    for (std::uint64_t v : {std::uint64_t{layer}, fingerprint, std::uint64_t{xs.size()}, std::uint64_t{xs.cols()}})
      put(out, v);
    for (std::size_t r : xs.rows()) put(out, std::uint64_t{r});
    for (std::size_t i = 0; i < xs.size(); ++i) {
      model::RowMatrixF const x = xs.load(i);
      out.write(reinterpret_cast<char const*>(x.data()),
                static_cast<std::streamsize>(static_cast<std::size_t>(x.size()) * sizeof(float)));
    }
    file.commit();
  }

  /// Removes the checkpoint (a finished or restarted run). Never throws.
  void remove() const noexcept {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

 private:
  static constexpr std::array<char, 8> kMagic = {'D', 'F', 'R', 'O', 'T', 'C', 'A', 'L'};
  static constexpr std::uint32_t kVersion = 1;
  static constexpr std::size_t kFixedBytes = 8 + 4 + 4 * 8;  // magic, version, the four u64s
  static std::size_t header_bytes(std::size_t windows) { return kFixedBytes + 8 * windows; }

  struct Header {
    std::size_t layer = 0;
    std::uint64_t fingerprint = 0;
    std::vector<std::size_t> rows;
    std::size_t cols = 0;
  };

  template <class T>
  static void put(std::ostream& out, T v) {  // (little-endian hosts only: io/byte_reader.hpp)
    out.write(reinterpret_cast<char const*>(&v), sizeof v);
  }

  Header read_header(io::MappedFile const& file) const {
    auto damaged = [&](char const* why) {
      return FormatError(str_cat("calibration checkpoint '", path_.string(), "': ", why, " (damaged); remove it"));
    };
    if (file.size() < kFixedBytes) throw damaged("shorter than its header");
    io::ByteReader r(file.bytes(), str_cat("calibration checkpoint '", path_.string(), "'"));
    if (std::memcmp(r.read_bytes(kMagic.size(), "magic").data(), kMagic.data(), kMagic.size()) != 0)
      throw damaged("not a dfrot calibration checkpoint");
    if (r.read<std::uint32_t>("version") != kVersion) throw damaged("unknown version");
    Header h;
    h.layer = r.read<std::uint64_t>("layer");
    h.fingerprint = r.read<std::uint64_t>("fingerprint");
    std::uint64_t const windows = r.read<std::uint64_t>("windows");
    h.cols = r.read<std::uint64_t>("cols");
    if (windows == 0 || windows > r.remaining() / 8) throw damaged("implausible window count");
    for (std::uint64_t i = 0; i < windows; ++i) h.rows.push_back(r.read<std::uint64_t>("window rows"));
    return h;
  }

  std::filesystem::path path_;
};

}  // namespace dfrot::pipeline
