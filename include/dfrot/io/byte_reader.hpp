// SPDX-License-Identifier: Apache-2.0
// ByteReader: bounds-checked little-endian reads over a byte span (every loader goes through it).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "dfrot/core/error.hpp"

namespace dfrot::io {

static_assert(std::endian::native == std::endian::little,
              "dfrot's loaders read little-endian files on little-endian hosts only");

/// Sequential, bounds-checked reader over a byte span. Every failed read throws FormatError with
/// "<where>: <field> at byte <offset>: ..." where `where` names the file (e.g. "gguf 'm.gguf'").
class ByteReader {
 public:
  ByteReader(std::span<std::byte const> bytes, std::string where)
      : bytes_(bytes), where_(std::move(where)) {}

  std::size_t offset() const noexcept { return offset_; }
  std::size_t size() const noexcept { return bytes_.size(); }
  std::size_t remaining() const noexcept { return bytes_.size() - offset_; }
  std::string const& where() const noexcept { return where_; }
  std::span<std::byte const> bytes() const noexcept { return bytes_; }

  /// Throws unless `n` more bytes are available for `field`.
  void require(std::size_t n, std::string_view field) const {
    DFROT_THROW_IF(n > remaining(), FormatError, where_, ": ", field, " at byte ", offset_,
                   ": needs ", n, " bytes but only ", remaining(),
                   " remain in the file (truncated?)");
  }

  /// Reads one little-endian arithmetic value.
  template <class T>
  requires std::is_arithmetic_v<T> T read(std::string_view field) {
    require(sizeof(T), field);
    T value;
    std::memcpy(&value, bytes_.data() + offset_, sizeof(T));
    offset_ += sizeof(T);
    return value;
  }

  /// The next `n` bytes as a span into the underlying buffer.
  std::span<std::byte const> read_bytes(std::size_t n, std::string_view field) {
    require(n, field);
    auto out = bytes_.subspan(offset_, n);
    offset_ += n;
    return out;
  }

  /// The next `n` bytes as a string.
  std::string read_string(std::size_t n, std::string_view field) {
    auto b = read_bytes(n, field);
    return std::string(reinterpret_cast<char const*>(b.data()), b.size());
  }

  void skip(std::size_t n, std::string_view field) { read_bytes(n, field); }

  /// Moves to absolute offset `pos` (pos == size() allowed).
  void seek(std::size_t pos, std::string_view field) {
    DFROT_THROW_IF(pos > bytes_.size(), FormatError, where_, ": ", field, ": offset ", pos,
                   " is beyond the end of the file (", bytes_.size(), " bytes; truncated?)");
    offset_ = pos;
  }

  /// Throws FormatError "<where>: <parts...>" (context-prefixed error for callers).
  template <class... Parts>
  [[noreturn]] void fail(Parts&&... parts) const {
    throw FormatError(str_cat(where_, ": ", std::forward<Parts>(parts)...));
  }

 private:
  std::span<std::byte const> bytes_;
  std::string where_;
  std::size_t offset_ = 0;
};

}  // namespace dfrot::io
