// SPDX-License-Identifier: Apache-2.0
// CalibrationCheckpoint: the calibration activations a streamed GPTQ run carries between layers,
// saved beside its partial output so that `--resume` continues at the layer they feed instead of
// starting again at layer 0 (a 70B run takes hours per layer on a CPU). The file is written to
// `<path>.tmp`, fsync'd and renamed, so a checkpoint is complete or absent; it records the layer
// whose inputs it holds and a fingerprint of the calibration windows, so that activations of
// other windows are never continued.
//
// Layout (little-endian): "DFROTCAL" | u32 version | u64 layer | u64 fingerprint | u64 windows |
// u64 cols | u64 rows[windows] | float32 window 0, window 1, …
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/eval/calibration.hpp"
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
    Fd const f(path_, O_RDONLY, "open");
    Header const h = read_header(f);
    DFROT_THROW_IF(h.fingerprint != fingerprint || h.rows != xs.rows() || h.cols != xs.cols(), FormatError,
                   "calibration checkpoint '", path_.string(), "' was made of other calibration windows "
                   "than this run (--calib, --nsamples, --seqlen); remove it or run without --resume");
    std::uintmax_t const size = std::filesystem::file_size(path_, ec);
    DFROT_THROW_IF(ec || size != header_bytes(h.rows.size()) + xs.bytes(), FormatError,
                   "calibration checkpoint '", path_.string(), "' has ", ec ? 0 : size, " bytes, expected ",
                   header_bytes(h.rows.size()) + xs.bytes(), " (damaged); remove it");
    return h.layer;
  }

  /// Refills `xs` from the file (after saved_layer accepted it). \throws IoError when a read fails.
  void load(CalibrationActivations& xs) const {
    Fd const f(path_, O_RDONLY, "open");
    std::size_t off = header_bytes(xs.size());
    for (std::size_t i = 0; i < xs.size(); ++i) {
      model::RowMatrixF x(static_cast<Eigen::Index>(xs.rows()[i]), static_cast<Eigen::Index>(xs.cols()));
      std::size_t const n = static_cast<std::size_t>(x.size()) * sizeof(float);
      f.transfer(x.data(), n, off, false);
      off += n;
      xs.store(i, std::move(x));
    }
  }

  /// Saves `xs` as the inputs of `layer`, replacing any older checkpoint atomically.
  /// \throws IoError naming the file when it cannot be written (disk full).
  void save(CalibrationActivations const& xs, std::size_t layer, std::uint64_t fingerprint) const {
    std::filesystem::path const tmp = path_.string() + ".tmp";
    {
      Fd const f(tmp, O_WRONLY | O_CREAT | O_TRUNC, "create");
      std::vector<std::uint8_t> head;
      head.insert(head.end(), kMagic.begin(), kMagic.end());
      put(head, std::uint32_t{kVersion});
      for (std::uint64_t v : {std::uint64_t{layer}, fingerprint, std::uint64_t{xs.size()}, std::uint64_t{xs.cols()}})
        put(head, v);
      for (std::size_t r : xs.rows()) put(head, std::uint64_t{r});
      f.transfer(head.data(), head.size(), 0, true);
      std::size_t off = head.size();
      for (std::size_t i = 0; i < xs.size(); ++i) {
        model::RowMatrixF x = xs.load(i);
        std::size_t const n = static_cast<std::size_t>(x.size()) * sizeof(float);
        f.transfer(x.data(), n, off, true);
        off += n;
      }
      DFROT_THROW_IF(::fsync(f.fd) != 0, IoError, "calibration checkpoint '", tmp.string(),
                     "': fsync failed: ", std::strerror(errno));
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path_, ec);
    DFROT_THROW_IF(ec, IoError, "calibration checkpoint: cannot rename '", tmp.string(), "' to '",
                   path_.string(), "': ", ec.message());
  }

  /// Removes the checkpoint (a finished or restarted run). Never throws.
  void remove() const noexcept {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
    std::filesystem::remove(path_.string() + ".tmp", ec);
  }

 private:
  static constexpr std::array<char, 8> kMagic = {'D', 'F', 'R', 'O', 'T', 'C', 'A', 'L'};
  static constexpr std::uint32_t kVersion = 1;
  static std::size_t header_bytes(std::size_t windows) { return 8 + 4 + 4 * 8 + 8 * windows; }

  struct Header {
    std::size_t layer = 0;
    std::uint64_t fingerprint = 0;
    std::vector<std::size_t> rows;
    std::size_t cols = 0;
  };

  /// A POSIX file descriptor with whole-buffer pread/pwrite that name the file when they fail.
  struct Fd {
    Fd(std::filesystem::path const& p, int flags, char const* what) : path(p), fd(::open(p.c_str(), flags, 0644)) {
      DFROT_THROW_IF(fd < 0, IoError, "calibration checkpoint: cannot ", what, " '", p.string(), "': ",
                     std::strerror(errno));
    }
    Fd(Fd const&) = delete;
    Fd& operator=(Fd const&) = delete;
    ~Fd() { ::close(fd); }
    /// \returns false at end of file when reading (write: always all bytes, or IoError).
    bool transfer(void* p, std::size_t n, std::size_t off, bool write, bool eof_ok = false) const {
      std::size_t done = 0;
      while (done < n) {
        char* const at = static_cast<char*>(p) + done;
        auto const o = static_cast<off_t>(off + done);
        ssize_t const k = write ? ::pwrite(fd, at, n - done, o) : ::pread(fd, at, n - done, o);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0 && !write && eof_ok) return false;
        DFROT_THROW_IF(k <= 0, IoError, "calibration checkpoint '", path.string(), "': ",
                       write ? "write" : "read", " failed: ",
                       k < 0 ? std::strerror(errno) : write ? "short write (disk full?)" : "file truncated");
        done += static_cast<std::size_t>(k);
      }
      return true;
    }
    std::filesystem::path path;
    int fd;
  };

  template <class T>
  static void put(std::vector<std::uint8_t>& out, T v) {
    for (std::size_t b = 0; b < sizeof(T); ++b) out.push_back(static_cast<std::uint8_t>(v >> (8 * b)));
  }

  Header read_header(Fd const& f) const {
    auto damaged = [&](char const* why) {
      return FormatError(str_cat("calibration checkpoint '", path_.string(), "': ", why, " (damaged); remove it"));
    };
    std::array<std::uint8_t, 44> fixed{};
    if (!f.transfer(fixed.data(), fixed.size(), 0, false, true)) throw damaged("shorter than its header");
    auto get = [&](std::size_t at, std::size_t n) {
      std::uint64_t v = 0;
      for (std::size_t b = 0; b < n; ++b) v |= std::uint64_t{fixed[at + b]} << (8 * b);
      return v;
    };
    if (std::memcmp(fixed.data(), kMagic.data(), kMagic.size()) != 0) throw damaged("not a dfrot calibration checkpoint");
    if (get(8, 4) != kVersion) throw damaged("unknown version");
    Header h;
    h.layer = get(12, 8);
    h.fingerprint = get(20, 8);
    std::uint64_t const windows = get(28, 8);
    h.cols = get(36, 8);
    if (windows == 0 || windows > (std::uint64_t{1} << 24)) throw damaged("implausible window count");
    std::vector<std::uint8_t> rows(8 * windows);
    if (!f.transfer(rows.data(), rows.size(), fixed.size(), false, true)) throw damaged("truncated window table");
    for (std::size_t i = 0; i < windows; ++i) {
      std::uint64_t r = 0;
      for (std::size_t b = 0; b < 8; ++b) r |= std::uint64_t{rows[8 * i + b]} << (8 * b);
      h.rows.push_back(r);
    }
    return h;
  }

  std::filesystem::path path_;
};

}  // namespace dfrot::pipeline
