// SPDX-License-Identifier: Apache-2.0
// UTF-8 decoding/encoding and the Unicode classes the pre-tokenizers need (letter, number,
// whitespace).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/tokenizer/unicode_tables.hpp"

namespace dfrot::tokenizer {

/// Marks a byte that does not start a valid UTF-8 sequence (decoded as one code unit).
inline constexpr std::uint32_t kInvalidCodepoint = 0xFFFFFFFFu;

/// One decoded code point and the bytes it came from.
struct Utf8Char {
  std::uint32_t cp;    ///< kInvalidCodepoint for a malformed byte
  std::size_t offset;  ///< byte offset in the text
  std::size_t length;  ///< 1..4 bytes
};

/// Length of the valid UTF-8 sequence at `text[pos]`, or 0 when the bytes there are malformed
/// (bad lead byte, missing/invalid continuation, overlong form, surrogate, > U+10FFFF).
inline std::size_t utf8_sequence_length(std::string_view text, std::size_t pos,
                                        std::uint32_t* cp_out = nullptr) noexcept {
  auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(text[i]); };
  std::uint8_t const b0 = byte(pos);
  std::size_t len;
  std::uint32_t cp;
  if (b0 < 0x80) {
    if (cp_out) *cp_out = b0;
    return 1;
  } else if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1Fu;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0Fu;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07u;
  } else {
    return 0;
  }
  if (pos + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    std::uint8_t const b = byte(pos + k);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3Fu);
  }
  static constexpr std::uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  if (cp_out) *cp_out = cp;
  return len;
}

/// Splits `text` into code points; a malformed byte becomes one kInvalidCodepoint of length 1,
/// so the byte ranges always cover the text exactly.
inline std::vector<Utf8Char> decode_utf8(std::string_view text) {
  std::vector<Utf8Char> out;
  out.reserve(text.size());
  for (std::size_t pos = 0; pos < text.size();) {
    std::uint32_t cp = 0;
    std::size_t const len = utf8_sequence_length(text, pos, &cp);
    if (len == 0) {
      out.push_back({kInvalidCodepoint, pos, 1});
      ++pos;
    } else {
      out.push_back({cp, pos, len});
      pos += len;
    }
  }
  return out;
}

/// Appends the UTF-8 encoding of `cp` (must be <= U+10FFFF).
inline void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace detail {
inline bool in_ranges(std::span<CodepointRange const> ranges, std::uint32_t cp) noexcept {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), cp,
                             [](std::uint32_t c, CodepointRange const& r) { return c < r.first; });
  return it != ranges.begin() && cp <= std::prev(it)->last;
}
}  // namespace detail

/// \p{L}: general category Lu, Ll, Lt, Lm or Lo (Unicode 14 tables).
inline bool is_letter(std::uint32_t cp) noexcept {
  if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
  return cp != kInvalidCodepoint && detail::in_ranges(detail::kLetterRanges, cp);
}
/// \p{N}: general category Nd, Nl or No.
inline bool is_number(std::uint32_t cp) noexcept {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return cp != kInvalidCodepoint && detail::in_ranges(detail::kNumberRanges, cp);
}
/// \s: the Unicode White_Space property.
inline bool is_whitespace(std::uint32_t cp) noexcept {
  switch (cp) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return cp >= 0x2000 && cp <= 0x200A;
  }
}

}  // namespace dfrot::tokenizer
