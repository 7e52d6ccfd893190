// SPDX-License-Identifier: Apache-2.0
// The pieces both CUDA W4A4 kernels share: kernel arguments, the cp.async double-buffered tile
// loads into shared memory, and the FP32 epilogue (the same integer correction and the same float
// operations as the CPU kernels, so the results are bit-identical to them).
#pragma once

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "dfrot/gemm/cuda/gpu_int4_weights.hpp"

namespace dfrot::gemm::cuda {

/// out[t, o] = residual[t, o] + (a_scales[t]·w_scales[o]) · float(Σ_k a[t,k]·W[o,k] − a_offsets[t]·w_row_sums[o])
/// (no residual term when `residual` is null). Rows of `a` and `w` are padded to k_steps·kTileK
/// codes; `w` has ceil(n / kTileN)·kTileN rows.
struct W4A4KernelArgs {
  std::uint8_t const* a = nullptr;  ///< activation image (packed nibbles or int8), rows of a_row_bytes
  std::size_t a_row_bytes = 0;
  float const* a_scales = nullptr;
  std::int32_t const* a_offsets = nullptr;
  std::uint8_t const* w = nullptr;  ///< GpuInt4Weights::codes on the device
  std::size_t w_row_bytes = 0;
  float const* w_scales = nullptr;
  std::int32_t const* w_row_sums = nullptr;
  float const* residual = nullptr;
  std::size_t residual_stride = 0;
  float* out = nullptr;
  std::size_t out_stride = 0;
  int m = 0;
  int n = 0;
  int k_steps = 0;
};

namespace detail {

inline constexpr int kWarps = 4;              // 2 (tokens) × 2 (channels), 32 × 32 each
inline constexpr int kThreads = 32 * kWarps;
inline constexpr int kPadBytes = 16;          // row padding of the shared tiles (bank spread)

/// 16-byte asynchronous global → shared copy; `valid` false writes zeros (rows past m).
__device__ __forceinline__ void cp_async_16(void* smem, void const* gmem, bool valid) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  unsigned const s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  int const src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
#else
  (void)smem; (void)gmem; (void)valid;
  __trap();
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

/// Copies a [rows × kBytes] tile (row r from src + r·src_row_bytes) into shared memory with row
/// stride kBytes + kPadBytes, 16 bytes per cp.async; rows ≥ valid_rows are zero-filled.
template <int kRows, int kBytes>
__device__ __forceinline__ void load_tile(std::uint8_t* smem, std::uint8_t const* src,
                                          std::size_t src_row_bytes, int valid_rows) {
  constexpr int kChunksPerRow = kBytes / 16;
  constexpr int kChunks = kRows * kChunksPerRow;
  static_assert(kChunks % kThreads == 0, "tile chunks must divide evenly over the block");
  for (int c = static_cast<int>(threadIdx.x); c < kChunks; c += kThreads) {
    int const r = c / kChunksPerRow, j = c % kChunksPerRow;
    bool const valid = r < valid_rows;
    std::uint8_t const* g = src + static_cast<std::size_t>(valid ? r : 0) * src_row_bytes + 16 * j;
    cp_async_16(smem + r * (kBytes + kPadBytes) + 16 * j, g, valid);
  }
}

/// Writes the warp's 32 × 32 accumulators (2 × 4 MMA tiles of 16 × 8, C fragment layout: c0, c1
/// at row g, columns 2·tig, 2·tig+1; c2, c3 at row g+8) through the epilogue. The float operations
/// are the CPU kernels' (scale product first, then one multiply; no FMA contraction).
__device__ __forceinline__ void epilogue(W4A4KernelArgs const& args, int row0, int col0,
                                         std::int32_t const (&acc)[2][4][4]) {
  int const lane = static_cast<int>(threadIdx.x) & 31, g = lane >> 2, tig = lane & 3;
  for (int mi = 0; mi < 2; ++mi) {
    for (int half = 0; half < 2; ++half) {
      int const t = row0 + mi * 16 + g + 8 * half;
      if (t >= args.m) continue;
      float const sa = args.a_scales[t];
      std::int32_t const off = args.a_offsets[t];
      for (int ni = 0; ni < 4; ++ni) {
        for (int e = 0; e < 2; ++e) {
          int const o = col0 + ni * 8 + 2 * tig + e;
          if (o >= args.n) continue;
          std::int32_t const v = acc[mi][ni][2 * half + e] - off * args.w_row_sums[o];
          float y = __fmul_rn(__fmul_rn(sa, args.w_scales[o]), __int2float_rn(v));
          if (args.residual != nullptr) {
            y = __fadd_rn(args.residual[static_cast<std::size_t>(t) * args.residual_stride + o], y);
          }
          args.out[static_cast<std::size_t>(t) * args.out_stride + o] = y;
        }
      }
    }
  }
}

}  // namespace detail
}  // namespace dfrot::gemm::cuda
