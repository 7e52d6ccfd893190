// SPDX-License-Identifier: Apache-2.0
// Reading whole input files as hostile input: regular files only (a FIFO or /dev/zero would block
// or never end), a size cap checked before reading, and JSON with a nesting-depth limit (deep
// nesting overflows the stack of any recursive walk over the document).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "dfrot/core/error.hpp"

namespace dfrot::io {

/// Largest text or JSON file read into memory (WikiText-2 test is 1.3 MB, a 128k-vocab
/// tokenizer.json ~9 MB).
inline constexpr std::size_t kMaxTextFileBytes = std::size_t{1} << 30;
/// Deepest JSON nesting accepted (HF config.json / tokenizer.json nest < 10 levels).
inline constexpr int kMaxJsonDepth = 64;

/// \throws IoError naming `what` and the path unless `path` is an existing regular file (checked
/// without opening it: opening a FIFO blocks).
inline void require_regular_file(std::filesystem::path const& path, std::string_view what) {
  std::error_code ec;
  auto const st = std::filesystem::status(path, ec);
  DFROT_THROW_IF(ec || !std::filesystem::exists(st), IoError, what, " '", path.string(),
                 "': cannot open: no such file");
  DFROT_THROW_IF(!std::filesystem::is_regular_file(st), IoError, what, " '", path.string(),
                 "': not a regular file");
}

/// Whether `path` is a regular file that starts with `magic` (false for anything else, without
/// blocking on a FIFO).
inline bool starts_with_magic(std::filesystem::path const& path, std::string_view magic) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  std::string head(magic.size(), '\0');
  ssize_t const n = ::read(fd, head.data(), head.size());
  ::close(fd);
  return n == static_cast<ssize_t>(magic.size()) && head == magic;
}

/// The bytes of a regular file of at most `max_bytes`.
/// \throws IoError naming `what` and the path when it cannot be opened, is not a regular file,
/// is larger than max_bytes, or a read fails.
inline std::string read_file(std::filesystem::path const& path, std::string_view what,
                             std::size_t max_bytes = kMaxTextFileBytes) {
  // O_NONBLOCK: opening a FIFO returns at once (fstat then rejects it); no effect on regular files.
  int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  DFROT_THROW_IF(fd < 0, IoError, what, " '", path.string(), "': cannot open: ", std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } const closer{fd};
  struct stat st {};
  DFROT_THROW_IF(::fstat(fd, &st) != 0, IoError, what, " '", path.string(), "': ", std::strerror(errno));
  DFROT_THROW_IF(!S_ISREG(st.st_mode), IoError, what, " '", path.string(), "': not a regular file");
  auto const size = static_cast<std::size_t>(st.st_size);
  DFROT_THROW_IF(size > max_bytes, IoError, what, " '", path.string(), "': ", size,
                 " bytes exceed the limit of ", max_bytes);
  std::string out(size, '\0');
  std::size_t done = 0;
  while (done < size) {
    ssize_t const n = ::read(fd, out.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    DFROT_THROW_IF(n < 0, IoError, what, " '", path.string(), "': read error: ", std::strerror(errno));
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

/// Parses JSON text, refusing nesting deeper than `max_depth`.
/// \throws FormatError naming `where` for malformed or too deeply nested JSON.
inline nlohmann::json parse_json(std::string_view text, std::string_view where,
                                 int max_depth = kMaxJsonDepth) {
  struct TooDeep {};
  auto const limit = [max_depth](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) throw TooDeep{};
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), limit);
  } catch (TooDeep const&) {
    throw FormatError(str_cat(where, ": JSON nested deeper than ", max_depth, " levels"));
  } catch (nlohmann::json::exception const& e) {
    throw FormatError(str_cat(where, " does not parse: ", e.what()));
  }
}

/// read_file + parse_json. \throws IoError / FormatError naming the path.
inline nlohmann::json read_json_file(std::filesystem::path const& path, std::string_view what) {
  return parse_json(read_file(path, what), str_cat(what, " '", path.string(), "'"));
}

}  // namespace dfrot::io
