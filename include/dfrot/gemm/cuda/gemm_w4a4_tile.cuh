// SPDX-License-Identifier: Apache-2.0
// What both CUDA W4A4 kernels share: kernel arguments, the cp.async double-buffered main loop over
// shared-memory tiles (the kernels differ only in the MMA step run on each tile), and the FP32
// epilogue (the same integer correction and the same float
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

/// The block's main loop: 64 tokens × 64 channels, k in steps of kTileK, two cp.async stages, then
/// the epilogue. `Step` is the kernel's MMA step: kRowBytesA / kRowBytesB (bytes of one kTileK-wide
/// row of each operand) and `compute(sa, sb, wm, wn, g, tig, acc)` on one stage's tiles (row
/// strides Step::kRowBytes + kPadBytes) for warp (wm, wn) and lane (g = lane/4, tig = lane%4).
template <class Step>
__device__ __forceinline__ void gemm_w4a4_mainloop(W4A4KernelArgs const& args) {
  constexpr int kStrideA = Step::kRowBytesA + kPadBytes;
  constexpr int kStrideB = Step::kRowBytesB + kPadBytes;
  __shared__ __align__(16) std::uint8_t smem_a[2][kTileM * kStrideA];
  __shared__ __align__(16) std::uint8_t smem_b[2][kTileN * kStrideB];

  int const m0 = static_cast<int>(blockIdx.y) * static_cast<int>(kTileM);
  int const n0 = static_cast<int>(blockIdx.x) * static_cast<int>(kTileN);
  int const warp = static_cast<int>(threadIdx.x) >> 5, lane = static_cast<int>(threadIdx.x) & 31;
  int const wm = warp >> 1, wn = warp & 1, g = lane >> 2, tig = lane & 3;
  int const rows_a = args.m - m0 < static_cast<int>(kTileM) ? args.m - m0 : static_cast<int>(kTileM);

  std::uint8_t const* a_tile = args.a + static_cast<std::size_t>(m0) * args.a_row_bytes;
  std::uint8_t const* w_tile = args.w + static_cast<std::size_t>(n0) * args.w_row_bytes;
  auto load = [&](int stage, int ks) {
    load_tile<kTileM, Step::kRowBytesA>(smem_a[stage], a_tile + ks * Step::kRowBytesA, args.a_row_bytes, rows_a);
    load_tile<kTileN, Step::kRowBytesB>(smem_b[stage], w_tile + ks * Step::kRowBytesB, args.w_row_bytes, kTileN);
    cp_async_commit();
  };

  std::int32_t acc[2][4][4] = {};
  load(0, 0);
  for (int ks = 0; ks < args.k_steps; ++ks) {
    if (ks + 1 < args.k_steps) {
      load((ks + 1) & 1, ks + 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    Step::compute(smem_a[ks & 1], smem_b[ks & 1], wm, wn, g, tig, acc);
    __syncthreads();
  }
  epilogue(args, m0 + wm * 32, n0 + wn * 32, acc);
}

}  // namespace detail
}  // namespace dfrot::gemm::cuda
