// SPDX-License-Identifier: Apache-2.0
// The CPU GEMM operations of the int4 engine, dispatched once per call to the best ISA level:
// gemm_w4a4 (int4 weights × int4/int8 activation codes → int32 → FP32), gemm_w8a8 (int8 weights ×
// int8 codes, the Q8 lm_head), gemm_w4a16 (weight-only int4 × FP32 activations) and gemm_f16 (F16
// weights × FP32, the F16 lm_head).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include <Eigen/Core>
#include <omp.h>

#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/gemm/cpu/gemm_args.hpp"
#include "dfrot/gemm/cpu/amx_tiles.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_amx.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_avx2.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_avx512vnni.hpp"
#include "dfrot/gemm/cpu/gemm_kernels_scalar.hpp"
#include "dfrot/gemm/f16_matrix.hpp"
#include "dfrot/gemm/packed_int4_weights.hpp"
#include "dfrot/gemm/packed_int8_weights.hpp"
#include "dfrot/gemm/quantized_activations.hpp"

namespace dfrot::gemm {

/// Levels of the integer kernel (AVX-512 without VNNI runs the AVX2 one) and of the float ones.
inline constexpr IsaSet kIntGemmIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2, Isa::kAvx512Vnni, Isa::kAmx>;
#else
    kIsaSet<>;
#endif
inline constexpr IsaSet kFloatGemmIsas =
#if DFROT_X86
    kIsaSet<Isa::kAvx2>;
#else
    kIsaSet<>;
#endif

/// Fewest tokens for which the integer GEMMs use AMX. Below one tile of tokens (16) most of every
/// tile product is padding and the per-call costs (tile configuration, widening the weight strip)
/// are not shared, so decode shapes stay on AVX-512 VNNI (llama.cpp does the same for batch 1).
/// Chosen from that arithmetic; the crossover is to be measured on an AMX machine
/// (`dfrot_bench_gemm` BM_gemm_w4a4/amx vs /avx512vnni at m = 8…64).
inline constexpr std::size_t kAmxMinTokens = 16;

/// The level an integer GEMM of `tokens` rows runs at when `isa` is active.
constexpr Isa int_gemm_level(Isa isa, std::size_t tokens) {
  Isa const level = dispatched_isa<kIntGemmIsas>(isa);
  return level == Isa::kAmx && tokens < kAmxMinTokens ? Isa::kAvx512Vnni : level;
}

namespace detail {
/// The calling thread's scratch for `threads` AMX workers (grown once, then reused: a prefill loop
/// does not allocate). Slot i belongs to OpenMP thread i of the team parallel_for starts.
inline std::uint8_t* amx_scratch(std::size_t bytes_per_thread, int threads) {
  thread_local AlignedBuffer<std::uint8_t> buffer;
  std::size_t const need = bytes_per_thread * static_cast<std::size_t>(threads);
  if (buffer.size() < need) buffer = AlignedBuffer<std::uint8_t>(need);
  return buffer.data();
}
/// This worker's slot in amx_scratch: its OpenMP thread number, or 0 when the GEMM runs inline
/// inside an enclosing parallel region (each of its threads then has its own buffer).
inline std::size_t amx_slot(bool nested) {
  return nested ? 0 : static_cast<std::size_t>(omp_get_thread_num());
}
/// out = x · Wᵀ for weights that are cheap to widen to FP32 a block of rows at a time (prefill of
/// the F16 and weight-only int4 GEMMs): widen(o0, rows, dst, ld) writes rows [o0, o0 + rows) of
/// W as floats, `ld` ≥ width apart, and Eigen's SGEMM multiplies each block once for all tokens.
template <class Widen>
void gemm_widened(MatrixView<float const> x, std::size_t n_out, std::size_t n_in, std::size_t width,
                  MatrixView<float> out, int n_threads, Widen&& widen) {
  using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  auto const idx = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
  Eigen::Map<RowMatrix const, 0, Stride> const xm(x.data(), idx(x.rows()), idx(n_in),
                                                  Stride(idx(x.row_stride())));
  constexpr std::size_t kBlock = 256;  // a multiple of kPanelRows
  std::size_t const n_blocks = (n_out + kBlock - 1) / kBlock;
  parallel_for(n_blocks, n_threads, 1, [&](std::size_t b0, std::size_t b1) {
    RowMatrix wb(idx(kBlock), idx(width));
    for (std::size_t b = b0; b < b1; ++b) {
      std::size_t const o0 = b * kBlock, rows = std::min(kBlock, n_out - o0);
      widen(o0, rows, wb.data(), width);
      Eigen::Map<RowMatrix, 0, Stride> om(out.data() + o0, idx(x.rows()), idx(rows),
                                          Stride(idx(out.row_stride())));
      om.noalias() = xm * wb.topLeftCorner(idx(rows), idx(n_in)).transpose();
    }
  });
}

inline void check_out(MatrixView<float> out, std::size_t rows, std::size_t cols, char const* op) {
  DFROT_THROW_IF(out.rows() != rows || out.cols() != cols, ShapeError, op, ": output is ",
                 out.rows(), "x", out.cols(), ", expected ", rows, "x", cols);
}
/// Splits panels over threads in pairs (the AVX-512 kernel's 32-channel step).
template <class Body>
void over_panels(std::size_t n_panels, std::size_t work_per_panel, int n_threads, Body&& body) {
  std::size_t const pairs = (n_panels + 1) / 2;
  // Below ~64k MACs per thread the fork/join costs more than it saves.
  std::size_t const min_pairs = std::max<std::size_t>(1, (std::size_t{1} << 16) / std::max<std::size_t>(1, 2 * work_per_panel));
  parallel_for(pairs, n_threads, min_pairs, [&](std::size_t b, std::size_t e) {
    body(2 * b, std::min(n_panels, 2 * e));
  });
}
}  // namespace detail

/// out [tokens × n_out] = dequantized A · Wᵀ, computed exactly in int32 and scaled once:
/// out[t, o] = (s_a[t]·s_w[o]) · (Σ_k code[t,k]·(W[o,k]+8) − 8·Σ_k code[t,k] − offset[t]·Σ_k W[o,k]).
/// The correction terms turn the unsigned-weight product back into Σ_k (code − offset)·W, which is
/// exact for sym and asym codes of up to 8 bits (|Σ| < 2³¹ for K < 2²⁰). Every ISA level gives
/// bit-identical results; AMX runs from kAmxMinTokens tokens, fewer run on AVX-512 VNNI.
/// \throws ShapeError when the activations' width differs from n_in or the output shape is wrong.
inline void gemm_w4a4(QuantizedActivations const& a, PackedInt4Weights const& w,
                      MatrixView<float> out, int n_threads = 1) {
  DFROT_THROW_IF(a.n_cols != w.n_in(), ShapeError, "gemm_w4a4: activations are ", a.n_rows, "x",
                 a.n_cols, " but the weights expect K=", w.n_in());
  detail::check_out(out, a.n_rows, w.n_out(), "gemm_w4a4");
  if (a.n_rows == 0) return;
  cpu::IntGemmArgs const g{a.codes.data(), a.k_pad, a.scales.data(), a.offsets.data(),
                           a.code_sums.data(), &w, out.data(), out.row_stride()};
  dispatch_isa<kIntGemmIsas>(int_gemm_level(active_isa(), a.n_rows), [&]<Isa I>() {
    std::uint8_t* scratch = nullptr;
    std::size_t const scratch_bytes = cpu::amx::amx_scratch_bytes(w.k_pad());
    bool const nested = omp_in_parallel() != 0;
    if constexpr (I == Isa::kAmx) scratch = detail::amx_scratch(scratch_bytes, resolve_threads(n_threads));
    detail::over_panels(w.n_panels(), a.n_rows * w.k_pad() * kPanelRows, n_threads,
                        [&](std::size_t p0, std::size_t p1) {
                          if constexpr (I == Isa::kAmx) {
                            cpu::amx::int_gemm<cpu::amx::HardwareTiles>(
                                g, 0, a.n_rows, p0, p1, scratch + detail::amx_slot(nested) * scratch_bytes);
                          } else if constexpr (I == Isa::kAvx512Vnni) {
                            cpu::avx512vnni::int_gemm(g, 0, a.n_rows, p0, p1);
                          } else if constexpr (I == Isa::kAvx2) {
                            cpu::avx2::int_gemm(g, 0, a.n_rows, p0, p1);
                          } else {
                            cpu::scalar::int_gemm(g, 0, a.n_rows, p0, p1);
                          }
                        });
  });
}

/// out [tokens × n_out] = dequantized A · Wᵀ for int8 weights (the Q8 embeddings / lm_head), exact
/// in int32 and scaled once, as gemm_w4a4 with the weight offset 128:
/// out[t, o] = (s_a[t]·s_w[o]) · (Σ_k code[t,k]·(W[o,k]+128) − 128·Σ_k code[t,k] − offset[t]·Σ_k W[o,k]).
/// |Σ| < 2³¹ for K < 2¹⁶. Every ISA level gives bit-identical results.
/// \throws ShapeError when the activations' width differs from n_in, K ≥ 2¹⁶ or the output shape
/// is wrong.
inline void gemm_w8a8(QuantizedActivations const& a, PackedInt8Weights const& w,
                      MatrixView<float> out, int n_threads = 1) {
  DFROT_THROW_IF(a.n_cols != w.n_in(), ShapeError, "gemm_w8a8: activations are ", a.n_rows, "x",
                 a.n_cols, " but the weights expect K=", w.n_in());
  DFROT_THROW_IF(w.n_in() >= (std::size_t{1} << 16), ShapeError, "gemm_w8a8: K=", w.n_in(),
                 " could overflow the int32 accumulators (limit 65535)");
  detail::check_out(out, a.n_rows, w.n_out(), "gemm_w8a8");
  if (a.n_rows == 0) return;
  cpu::Int8GemmArgs const g{a.codes.data(), a.k_pad, a.scales.data(), a.offsets.data(),
                            a.code_sums.data(), &w, out.data(), out.row_stride()};
  dispatch_isa<kIntGemmIsas>(int_gemm_level(active_isa(), a.n_rows), [&]<Isa I>() {
    std::uint8_t* scratch = nullptr;
    std::size_t const scratch_bytes = cpu::amx::amx_scratch_bytes(w.k_pad());
    bool const nested = omp_in_parallel() != 0;
    if constexpr (I == Isa::kAmx) scratch = detail::amx_scratch(scratch_bytes, resolve_threads(n_threads));
    detail::over_panels(w.n_panels(), a.n_rows * w.k_pad() * kPanelRows, n_threads,
                        [&](std::size_t p0, std::size_t p1) {
                          if constexpr (I == Isa::kAmx) {
                            cpu::amx::int8_gemm<cpu::amx::HardwareTiles>(
                                g, 0, a.n_rows, p0, p1, scratch + detail::amx_slot(nested) * scratch_bytes);
                          } else if constexpr (I == Isa::kAvx512Vnni) {
                            cpu::avx512vnni::int8_gemm(g, 0, a.n_rows, p0, p1);
                          } else if constexpr (I == Isa::kAvx2) {
                            cpu::avx2::int8_gemm(g, 0, a.n_rows, p0, p1);
                          } else {
                            cpu::scalar::int8_gemm(g, 0, a.n_rows, p0, p1);
                          }
                        });
  });
}

/// Tokens up to which gemm_w4a16 dequantizes in registers (decode); above it, blocks of 256
/// channels are widened to FP32 once per call and multiplied with Eigen's SGEMM (prefill: the
/// in-register kernel re-widened every panel for each 4-token block, 0.73× Eigen at 512 tokens).
inline constexpr std::size_t kW4A16DirectTokens = 8;

/// out [tokens × n_out] = x · Ŵᵀ with Ŵ = s_w·W (weight-only W4A16): dequantized in registers
/// for decode shapes, widened per block of channels for prefill (kW4A16DirectTokens).
/// \throws ShapeError on a shape mismatch.
inline void gemm_w4a16(MatrixView<float const> x, PackedInt4Weights const& w, MatrixView<float> out,
                       int n_threads = 1) {
  DFROT_THROW_IF(x.cols() != w.n_in(), ShapeError, "gemm_w4a16: activations are ", x.rows(), "x",
                 x.cols(), " but the weights expect K=", w.n_in());
  detail::check_out(out, x.rows(), w.n_out(), "gemm_w4a16");
  if (x.rows() == 0) return;
  if (x.rows() > kW4A16DirectTokens) {
    detail::gemm_widened(x, w.n_out(), w.n_in(), w.k_pad(), out, n_threads,
                         [&](std::size_t o0, std::size_t rows, float* dst, std::size_t ld) {
                           for (std::size_t r = 0; r < rows; r += kPanelRows) {
                             w.panel_to_float((o0 + r) / kPanelRows, dst + r * ld, ld);
                           }
                         });
    return;
  }
  cpu::W4A16Args const g{x.data(), x.row_stride(), &w, out.data(), out.row_stride()};
  dispatch_isa<kFloatGemmIsas>(active_isa(), [&]<Isa I>() {
    detail::over_panels(w.n_panels(), x.rows() * w.k_pad() * kPanelRows, n_threads,
                        [&](std::size_t p0, std::size_t p1) {
                          if constexpr (I == Isa::kAvx2) {
                            cpu::avx2::w4a16_gemm(g, 0, x.rows(), p0, p1);
                          } else {
                            cpu::scalar::w4a16_gemm(g, 0, x.rows(), p0, p1);
                          }
                        });
  });
}

/// Tokens up to which gemm_f16 streams the F16 weights directly (decode); above it, weight blocks
/// are widened to FP32 once and multiplied with Eigen's SGEMM (prefill).
inline constexpr std::size_t kF16DirectTokens = 8;

/// out [tokens × n_out] = x · Wᵀ for F16 weights W [n_out × n_in] (the lm_head).
/// \throws ShapeError on a shape mismatch.
inline void gemm_f16(MatrixView<float const> x, F16Matrix const& w, MatrixView<float> out,
                     int n_threads = 1) {
  DFROT_THROW_IF(x.cols() != w.cols(), ShapeError, "gemm_f16: activations are ", x.rows(), "x",
                 x.cols(), " but the weights expect K=", w.cols());
  detail::check_out(out, x.rows(), w.rows(), "gemm_f16");
  if (x.rows() == 0) return;
  std::size_t const n_out = w.rows(), n_in = w.cols();
  if (x.rows() <= kF16DirectTokens) {
    cpu::F16GemvArgs const g{x.data(), x.row_stride(), w.data(), n_out, n_in, out.data(),
                             out.row_stride()};
    dispatch_isa<kFloatGemmIsas>(active_isa(), [&]<Isa I>() {
      parallel_for(n_out, n_threads, 256, [&](std::size_t o0, std::size_t o1) {
        if constexpr (I == Isa::kAvx2) {
          cpu::avx2::f16_gemm(g, 0, x.rows(), o0, o1);
        } else {
          cpu::scalar::f16_gemm(g, 0, x.rows(), o0, o1);
        }
      });
    });
    return;
  }
  detail::gemm_widened(x, n_out, n_in, w.cols(), out, n_threads,
                       [&](std::size_t o0, std::size_t rows, float* dst, std::size_t ld) {
                         for (std::size_t r = 0; r < rows; ++r) w.row_to_float(o0 + r, dst + r * ld);
                       });
}

}  // namespace dfrot::gemm
