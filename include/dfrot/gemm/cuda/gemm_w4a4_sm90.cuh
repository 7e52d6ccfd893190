// SPDX-License-Identifier: Apache-2.0
// W4A4 GEMM on int8 tensor cores, the path of Hopper (sm_90: H100/H200 have no int4 tensor cores)
// and of 8-bit activations on any sm_80+: int4 weights are read as packed nibbles (half the bytes
// of int8) and unpacked to int8 in registers; activations are int8 codes;
// `mma.sync.aligned.m16n8k32` s8 × s8.
#pragma once

#include <cstdint>

#include <cuda_runtime.h>

#include "dfrot/gemm/cuda/gemm_w4a4_tile.cuh"

namespace dfrot::gemm::cuda::sm90 {

/// c += a · b for one m16n8k32 tile (A row-major 16 × 32, B column-major 32 × 8, int32 C).
__device__ __forceinline__ void mma_s8(std::int32_t (&c)[4], unsigned const (&a)[4], unsigned const (&b)[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+r"(c[0]), "+r"(c[1]), "+r"(c[2]), "+r"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
  (void)c; (void)a; (void)b;
  __trap();
#endif
}

/// Eight signed nibbles (element i in bits 4i … 4i+3) → two words of four int8 in element order:
/// lo = elements 0 … 3, hi = elements 4 … 7.
__device__ __forceinline__ void unpack_s4_to_s8(unsigned x, unsigned& lo, unsigned& hi) {
  unsigned const even = __vsub4((x & 0x0F0F0F0Fu) ^ 0x08080808u, 0x08080808u);         // e0 e2 e4 e6
  unsigned const odd = __vsub4(((x >> 4) & 0x0F0F0F0Fu) ^ 0x08080808u, 0x08080808u);   // e1 e3 e5 e7
  lo = __byte_perm(even, odd, 0x5140);
  hi = __byte_perm(even, odd, 0x7362);
}

/// MMA step on one 64-wide k tile (two MMA k-steps of 32): activations are int8 codes (64 bytes
/// per row), weights packed nibbles (32 bytes). The PTX layout gives thread (g, tig) the logical
/// k ∈ [4·tig, 4·tig+4) in a0/a1/b0 and [16+4·tig, …) in a2/a3/b1 of each 32-wide k-step; it reads
/// the 8 codes at physical k = 8·tig … 8·tig+7 instead (8 activation bytes, one 32-bit word of
/// weight nibbles). A and B use the same k permutation, so the dot products are unchanged.
struct Int8MmaStep {
  static constexpr int kRowBytesA = static_cast<int>(kTileK);
  static constexpr int kRowBytesB = static_cast<int>(kTileK / 2);
  static constexpr int kStrideA = kRowBytesA + detail::kPadBytes;
  static constexpr int kStrideB = kRowBytesB + detail::kPadBytes;

  __device__ __forceinline__ static void compute(std::uint8_t const* sa, std::uint8_t const* sb, int wm, int wn,
                                                 int g, int tig, std::int32_t (&acc)[2][4][4]) {
    for (int kk = 0; kk < 2; ++kk) {
      unsigned a[2][4], b[4][2];
      for (int mi = 0; mi < 2; ++mi) {
        int const r = wm * 32 + mi * 16 + g;
        uint2 const lo = *reinterpret_cast<uint2 const*>(sa + r * kStrideA + 32 * kk + 8 * tig);
        uint2 const hi = *reinterpret_cast<uint2 const*>(sa + (r + 8) * kStrideA + 32 * kk + 8 * tig);
        a[mi][0] = lo.x; a[mi][1] = hi.x; a[mi][2] = lo.y; a[mi][3] = hi.y;
      }
      for (int ni = 0; ni < 4; ++ni) {
        int const c = wn * 32 + ni * 8 + g;
        unsigned const w = *reinterpret_cast<unsigned const*>(sb + c * kStrideB + 16 * kk + 4 * tig);
        unpack_s4_to_s8(w, b[ni][0], b[ni][1]);
      }
      for (int mi = 0; mi < 2; ++mi)
        for (int ni = 0; ni < 4; ++ni) mma_s8(acc[mi][ni], a[mi], b[ni]);
    }
  }
};

__global__ void __launch_bounds__(detail::kThreads) gemm_w4a4_int8_mma_kernel(W4A4KernelArgs args) {
  detail::gemm_w4a4_mainloop<Int8MmaStep>(args);
}

}  // namespace dfrot::gemm::cuda::sm90
