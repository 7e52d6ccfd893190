// SPDX-License-Identifier: Apache-2.0
// W4A4 GEMM on the native int4 tensor cores of sm_80 … sm_89 (A100, A10/RTX 30, L4/RTX 40):
// `mma.sync.aligned.m16n8k64` with 4-bit activations (.s4 symmetric, .u4 asymmetric) × .s4 weights.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "dfrot/gemm/cuda/gemm_w4a4_tile.cuh"

namespace dfrot::gemm::cuda::sm80 {

/// c += a · b for one m16n8k64 tile (A row-major 16 × 64, B column-major 64 × 8, int32 C).
template <bool kUnsignedA>
__device__ __forceinline__ void mma_s4(std::int32_t (&c)[4], unsigned const (&a)[4], unsigned const (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && __CUDA_ARCH__ < 900
  if constexpr (kUnsignedA) {
    asm volatile(
        "mma.sync.aligned.m16n8k64.row.col.s32.u4.s4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k64.row.col.s32.s4.s4.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
  }
#else
  (void)c; (void)a; (void)b;
  __trap();  // the plan never selects this kernel outside sm_80 … sm_89
#endif
}

/// MMA step on one 64-wide k tile: both operands are rows of packed nibbles (32 bytes per 64
/// codes). Fragments: the PTX layout gives thread (g = lane/4, tig = lane%4) the logical k ∈
/// [8·tig, 8·tig+8) in a0/a1/b0 and [32+8·tig, …) in a2/a3/b1; it reads the 8 bytes at physical
/// k = 16·tig … 16·tig+15 instead. A and B use the same k permutation, so the dot products are
/// unchanged.
template <bool kUnsignedA>
struct Int4MmaStep {
  static constexpr int kRowBytesA = static_cast<int>(kTileK / 2);
  static constexpr int kRowBytesB = static_cast<int>(kTileK / 2);
  static constexpr int kStride = kRowBytesA + detail::kPadBytes;

  __device__ __forceinline__ static void compute(std::uint8_t const* sa, std::uint8_t const* sb, int wm, int wn,
                                                 int g, int tig, std::int32_t (&acc)[2][4][4]) {
    unsigned a[2][4], b[4][2];
    for (int mi = 0; mi < 2; ++mi) {
      int const r = wm * 32 + mi * 16 + g;
      uint2 const lo = *reinterpret_cast<uint2 const*>(sa + r * kStride + 8 * tig);
      uint2 const hi = *reinterpret_cast<uint2 const*>(sa + (r + 8) * kStride + 8 * tig);
      a[mi][0] = lo.x; a[mi][1] = hi.x; a[mi][2] = lo.y; a[mi][3] = hi.y;
    }
    for (int ni = 0; ni < 4; ++ni) {
      int const c = wn * 32 + ni * 8 + g;
      uint2 const w = *reinterpret_cast<uint2 const*>(sb + c * kStride + 8 * tig);
      b[ni][0] = w.x; b[ni][1] = w.y;
    }
    for (int mi = 0; mi < 2; ++mi)
      for (int ni = 0; ni < 4; ++ni) mma_s4<kUnsignedA>(acc[mi][ni], a[mi], b[ni]);
  }
};

template <bool kUnsignedA>
__global__ void __launch_bounds__(detail::kThreads) gemm_w4a4_int4_mma_kernel(W4A4KernelArgs args) {
  detail::gemm_w4a4_mainloop<Int4MmaStep<kUnsignedA>>(args);
}

}  // namespace dfrot::gemm::cuda::sm80
