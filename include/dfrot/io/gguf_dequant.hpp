// SPDX-License-Identifier: Apache-2.0
// ggml tensor types (ids, block sizes, bytes per block) and their dequantization to float.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "dfrot/core/error.hpp"

namespace dfrot::io {

/// Tensor element types of ggml/GGUF (the numeric ids are part of the file format).
enum class GgmlType : std::uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kBF16 = 30,
};

/// Layout of one ggml type: `block_size` elements are stored in `type_size` bytes.
/// `block_size == 0` marks a type whose layout dfrot does not know.
struct GgmlTypeInfo {
  char const* name;
  std::size_t block_size;
  std::size_t type_size;
  bool dequantizable;  ///< dequantize_row() supports it
};

/// Layout and name of `type`; an id dfrot does not know gives {nullptr, 0, 0, false}.
inline GgmlTypeInfo ggml_type_info(GgmlType type) noexcept {
  switch (type) {
    case GgmlType::kF32:
      return {"F32", 1, 4, true};
    case GgmlType::kF16:
      return {"F16", 1, 2, true};
    case GgmlType::kBF16:
      return {"BF16", 1, 2, true};
    case GgmlType::kQ4_0:
      return {"Q4_0", 32, 18, true};
    case GgmlType::kQ4_1:
      return {"Q4_1", 32, 20, true};
    case GgmlType::kQ5_0:
      return {"Q5_0", 32, 22, false};
    case GgmlType::kQ5_1:
      return {"Q5_1", 32, 24, false};
    case GgmlType::kQ8_0:
      return {"Q8_0", 32, 34, true};
    case GgmlType::kQ8_1:
      return {"Q8_1", 32, 36, false};
    case GgmlType::kQ2_K:
      return {"Q2_K", 256, 84, false};
    case GgmlType::kQ3_K:
      return {"Q3_K", 256, 110, false};
    case GgmlType::kQ4_K:
      return {"Q4_K", 256, 144, true};
    case GgmlType::kQ5_K:
      return {"Q5_K", 256, 176, false};
    case GgmlType::kQ6_K:
      return {"Q6_K", 256, 210, true};
    case GgmlType::kQ8_K:
      return {"Q8_K", 256, 292, false};
    case GgmlType::kI8:
      return {"I8", 1, 1, false};
    case GgmlType::kI16:
      return {"I16", 1, 2, false};
    case GgmlType::kI32:
      return {"I32", 1, 4, false};
    case GgmlType::kI64:
      return {"I64", 1, 8, false};
    case GgmlType::kF64:
      return {"F64", 1, 8, false};
  }
  return {nullptr, 0, 0, false};
}

/// "Q4_K", or "type <id>" for an id dfrot does not know.
inline std::string ggml_type_name(GgmlType type) {
  GgmlTypeInfo const info = ggml_type_info(type);
  return info.name != nullptr ? std::string(info.name)
                              : str_cat("type ", static_cast<std::uint32_t>(type));
}

/// IEEE binary16 bits -> float (exact; handles subnormals, infinities and NaN).
inline float fp16_to_fp32(std::uint16_t h) noexcept {
  std::uint32_t const sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t const exponent = (h >> 10) & 0x1fu;
  std::uint32_t const mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    float const magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<std::uint32_t>(magnitude) | sign);
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/// bfloat16 bits -> float (the upper half of a binary32).
inline float bf16_to_fp32(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

namespace detail {

inline std::uint16_t load_u16(std::byte const* p) noexcept {
  std::uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline float load_f16(std::byte const* p) noexcept { return fp16_to_fp32(load_u16(p)); }
inline std::uint8_t byte_at(std::byte const* p, std::size_t i) noexcept {
  return static_cast<std::uint8_t>(p[i]);
}

// Q8_0: {f16 d; int8 q[32]}; x = d * q.
inline void dequantize_block_q8_0(std::byte const* b, float* y) noexcept {
  float const d = load_f16(b);
  for (int i = 0; i < 32; ++i) y[i] = d * static_cast<float>(static_cast<std::int8_t>(b[2 + i]));
}

// Q4_0: {f16 d; u8 qs[16]}; element j < 16 is the low nibble of qs[j], element j + 16 the high
// nibble; x = d * (nibble - 8).
inline void dequantize_block_q4_0(std::byte const* b, float* y) noexcept {
  float const d = load_f16(b);
  std::byte const* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    std::uint8_t const q = byte_at(qs, j);
    y[j] = d * static_cast<float>((q & 0x0f) - 8);
    y[j + 16] = d * static_cast<float>((q >> 4) - 8);
  }
}

// Q4_1: {f16 d; f16 m; u8 qs[16]}; same nibble order as Q4_0; x = d * nibble + m.
inline void dequantize_block_q4_1(std::byte const* b, float* y) noexcept {
  float const d = load_f16(b);
  float const m = load_f16(b + 2);
  std::byte const* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    std::uint8_t const q = byte_at(qs, j);
    y[j] = d * static_cast<float>(q & 0x0f) + m;
    y[j + 16] = d * static_cast<float>(q >> 4) + m;
  }
}

// Q4_K super-block of 256: {f16 d; f16 dmin; u8 scales[12]; u8 qs[128]}. Eight sub-blocks of 32,
// each with a 6-bit scale and a 6-bit min packed in `scales`: sub-blocks 0-3 keep theirs in the low
// 6 bits of bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 take their low 4 bits from the nibbles
// of bytes 8-11 (scale low, min high) and their top 2 bits from the top 2 bits of bytes 0-3
// (scale) and 4-7 (min). Sub-blocks 2p and 2p+1 share qs[32p, 32p+32): low nibbles, then high.
// x = d * scale * q - dmin * min.
inline void q4_k_scale_min(std::byte const* scales, int j, int& scale, int& min) noexcept {
  if (j < 4) {
    scale = byte_at(scales, j) & 63;
    min = byte_at(scales, j + 4) & 63;
  } else {
    scale = (byte_at(scales, j + 4) & 0x0f) | ((byte_at(scales, j - 4) >> 6) << 4);
    min = (byte_at(scales, j + 4) >> 4) | ((byte_at(scales, j) >> 6) << 4);
  }
}
inline void dequantize_block_q4_k(std::byte const* b, float* y) noexcept {
  float const d = load_f16(b);
  float const dmin = load_f16(b + 2);
  std::byte const* scales = b + 4;
  std::byte const* qs = b + 16;
  for (int pair = 0; pair < 4; ++pair) {
    int sc_lo, m_lo, sc_hi, m_hi;
    q4_k_scale_min(scales, 2 * pair, sc_lo, m_lo);
    q4_k_scale_min(scales, 2 * pair + 1, sc_hi, m_hi);
    float const d_lo = d * static_cast<float>(sc_lo), off_lo = dmin * static_cast<float>(m_lo);
    float const d_hi = d * static_cast<float>(sc_hi), off_hi = dmin * static_cast<float>(m_hi);
    for (int l = 0; l < 32; ++l) {
      std::uint8_t const q = byte_at(qs, 32 * pair + l);
      y[64 * pair + l] = d_lo * static_cast<float>(q & 0x0f) - off_lo;
      y[64 * pair + 32 + l] = d_hi * static_cast<float>(q >> 4) - off_hi;
    }
  }
}

// Q6_K super-block of 256: {u8 ql[128]; u8 qh[64]; int8 scales[16]; f16 d}. Two halves of 128;
// in half h, for l < 32 the four values l, l+32, l+64, l+96 take their low 4 bits from
// ql[64h + l] (low nibble), ql[64h + l + 32] (low), ql[64h + l] (high), ql[64h + l + 32] (high)
// and their top 2 bits from bits 0-1, 2-3, 4-5, 6-7 of qh[32h + l]; 16 elements share one scale.
// x = d * scale * (q6 - 32).
inline void dequantize_block_q6_k(std::byte const* b, float* y) noexcept {
  std::byte const* ql = b;
  std::byte const* qh = b + 128;
  std::byte const* sc = b + 192;
  float const d = load_f16(b + 208);
  for (int h = 0; h < 2; ++h) {
    for (int l = 0; l < 32; ++l) {
      std::uint8_t const lo_a = byte_at(ql, 64 * h + l);
      std::uint8_t const lo_b = byte_at(ql, 64 * h + l + 32);
      std::uint8_t const hi = byte_at(qh, 32 * h + l);
      int const q[4] = {(lo_a & 0x0f) | ((hi & 3) << 4), (lo_b & 0x0f) | (((hi >> 2) & 3) << 4),
                        (lo_a >> 4) | (((hi >> 4) & 3) << 4), (lo_b >> 4) | (((hi >> 6) & 3) << 4)};
      for (int k = 0; k < 4; ++k) {
        auto const s = static_cast<std::int8_t>(sc[8 * h + 2 * k + l / 16]);
        y[128 * h + 32 * k + l] = d * static_cast<float>(s) * static_cast<float>(q[k] - 32);
      }
    }
  }
}

}  // namespace detail

/// Bytes that `n` elements of `type` occupy; 0 when the layout is unknown or `n` is not a whole
/// number of blocks.
inline std::size_t ggml_row_bytes(GgmlType type, std::size_t n) noexcept {
  GgmlTypeInfo const info = ggml_type_info(type);
  if (info.block_size == 0 || n % info.block_size != 0) return 0;
  return n / info.block_size * info.type_size;
}

/// Dequantizes `dst.size()` elements of `type` stored in `src` to float.
/// \pre dst.size() is a multiple of the type's block size and src holds exactly its bytes.
/// \throws FormatError for a type dfrot cannot dequantize or mismatched sizes.
inline void dequantize(GgmlType type, std::span<std::byte const> src, std::span<float> dst) {
  GgmlTypeInfo const info = ggml_type_info(type);
  DFROT_THROW_IF(!info.dequantizable, FormatError, "dequantize: unsupported tensor type ",
                 ggml_type_name(type),
                 " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)");
  std::size_t const n = dst.size();
  DFROT_THROW_IF(n % info.block_size != 0 || src.size() != n / info.block_size * info.type_size,
                 FormatError, "dequantize: ", n, " ", info.name, " elements need ",
                 n / info.block_size * info.type_size, " bytes (whole blocks of ", info.block_size,
                 ") but got ", src.size());
  std::byte const* s = src.data();
  float* y = dst.data();
  std::size_t const n_blocks = n / info.block_size;
  switch (type) {
    case GgmlType::kF32:
      if (n != 0) std::memcpy(y, s, n * sizeof(float));
      return;
    case GgmlType::kF16:
      for (std::size_t i = 0; i < n; ++i) y[i] = detail::load_f16(s + 2 * i);
      return;
    case GgmlType::kBF16:
      for (std::size_t i = 0; i < n; ++i) y[i] = bf16_to_fp32(detail::load_u16(s + 2 * i));
      return;
    case GgmlType::kQ8_0:
      for (std::size_t b = 0; b < n_blocks; ++b)
        detail::dequantize_block_q8_0(s + 34 * b, y + 32 * b);
      return;
    case GgmlType::kQ4_0:
      for (std::size_t b = 0; b < n_blocks; ++b)
        detail::dequantize_block_q4_0(s + 18 * b, y + 32 * b);
      return;
    case GgmlType::kQ4_1:
      for (std::size_t b = 0; b < n_blocks; ++b)
        detail::dequantize_block_q4_1(s + 20 * b, y + 32 * b);
      return;
    case GgmlType::kQ4_K:
      for (std::size_t b = 0; b < n_blocks; ++b)
        detail::dequantize_block_q4_k(s + 144 * b, y + 256 * b);
      return;
    case GgmlType::kQ6_K:
      for (std::size_t b = 0; b < n_blocks; ++b)
        detail::dequantize_block_q6_k(s + 210 * b, y + 256 * b);
      return;
    default:
      break;
  }
  throw FormatError(str_cat("dequantize: unsupported tensor type ", ggml_type_name(type)));
}

}  // namespace dfrot::io
