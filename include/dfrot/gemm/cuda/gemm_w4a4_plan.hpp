// SPDX-License-Identifier: Apache-2.0
// GemmW4A4Plan: which CUDA W4A4 kernel runs a problem on a given GPU, its launch shape, and the
// can_implement checks (clear errors for unsupported shapes and architectures). Plain C++: the
// planning is tested without a GPU.
#pragma once

#include <cstddef>
#include <string>

#include "dfrot/core/error.hpp"
#include "dfrot/gemm/cuda/gpu_int4_weights.hpp"

namespace dfrot::gemm::cuda {

/// Compute capability major.minor (e.g. 8.0 = A100, 8.9 = L4/RTX 40, 9.0 = H100/H200).
struct GpuArch {
  int major = 0;
  int minor = 0;
  int sm() const { return 10 * major + minor; }
};

enum class W4A4Path {
  kInt4Mma,  ///< `mma.sync.m16n8k64` with s4/u4 × s4 operands (native int4 tensor cores: sm_80 … sm_89)
  kInt8Mma,  ///< weights unpacked to int8 in registers, `mma.sync.m16n8k32` s8 × s8 (sm_80+; the
             ///< path of Hopper, which has no int4 tensor cores, and of 8-bit activations)
};

inline char const* to_string(W4A4Path p) {
  return p == W4A4Path::kInt4Mma ? "int4-mma (m16n8k64 s4)" : "int8-mma (m16n8k32 s8, int4 weights unpacked)";
}

/// One problem: out [m × n] = A [m × k] · Wᵀ, W [n × k].
struct W4A4Problem {
  std::size_t m = 0;
  std::size_t n = 0;
  std::size_t k = 0;
  ActivationCodes codes = ActivationCodes::kSigned4;
};

/// The kernel choice and launch shape of one problem.
struct GemmW4A4Plan {
  W4A4Path path = W4A4Path::kInt8Mma;
  std::size_t k_pad = 0;       ///< K of the device images (multiple of kTileK)
  std::size_t n_pad = 0;       ///< N of the weight image (multiple of kTileN)
  unsigned grid_x = 0;         ///< n_pad / kTileN blocks along the output channels
  unsigned grid_y = 0;         ///< ceil(m / kTileM) blocks along the tokens
  unsigned threads = 128;      ///< 4 warps, each a 32 × 32 sub-tile
  std::size_t k_steps = 0;     ///< k_pad / kTileK main-loop iterations
};

/// Largest K: |Σ_k a·w| ≤ K·128·8 must stay below 2³¹ (int32 accumulators; the CPU kernels use
/// the same bound).
inline constexpr std::size_t kMaxK = std::size_t{1} << 20;

/// Empty when `arch` can run `p` (with the forced path, when given); otherwise why not.
inline std::string w4a4_cannot_implement(W4A4Problem const& p, GpuArch arch) {
  if (arch.sm() < 80) {
    return str_cat("the CUDA W4A4 kernels need sm_80 or newer (mma.sync integer tensor cores, "
                   "cp.async); this GPU is sm_", arch.sm());
  }
  if (p.n == 0 || p.k == 0) return str_cat("empty problem (n=", p.n, ", k=", p.k, ")");
  if (p.k >= kMaxK) return str_cat("K=", p.k, " could overflow the int32 accumulators (limit ", kMaxK - 1, ")");
  std::size_t const grid_y = (p.m + kTileM - 1) / kTileM;
  if (grid_y > 65535) return str_cat("m=", p.m, " tokens exceed the grid's 65535 × ", kTileM, " rows");
  return {};
}

/// The kernel for `p` on `arch`: the int4 MMA where the tensor cores have it (sm_80 … sm_89) and
/// the activations are 4-bit, else the int8 MMA. `force` selects a path (tests, benchmarks).
/// \throws UsageError when the problem cannot run here (w4a4_cannot_implement), or when the forced
/// int4 path meets int8 activations or an architecture without int4 MMA.
inline GemmW4A4Plan plan_gemm_w4a4(W4A4Problem const& p, GpuArch arch, W4A4Path const* force = nullptr) {
  std::string const why = w4a4_cannot_implement(p, arch);
  DFROT_THROW_IF(!why.empty(), UsageError, "gemm_w4a4 (cuda): ", why);
  bool const int4_tensor_cores = arch.major == 8;
  bool const four_bit = p.codes != ActivationCodes::kInt8;
  GemmW4A4Plan plan;
  plan.path = int4_tensor_cores && four_bit ? W4A4Path::kInt4Mma : W4A4Path::kInt8Mma;
  if (force != nullptr) {
    DFROT_THROW_IF(*force == W4A4Path::kInt4Mma && !four_bit, UsageError,
                   "gemm_w4a4 (cuda): the int4 MMA path cannot read ", to_string(p.codes), " activations");
    DFROT_THROW_IF(*force == W4A4Path::kInt4Mma && !int4_tensor_cores, UsageError,
                   "gemm_w4a4 (cuda): sm_", arch.sm(), " has no int4 tensor cores (sm_80 … sm_89 do)");
    plan.path = *force;
  }
  plan.k_pad = round_up(p.k, kTileK);
  plan.n_pad = round_up(p.n, kTileN);
  plan.grid_x = static_cast<unsigned>(plan.n_pad / kTileN);
  plan.grid_y = static_cast<unsigned>((p.m + kTileM - 1) / kTileM);
  plan.k_steps = plan.k_pad / kTileK;
  return plan;
}

}  // namespace dfrot::gemm::cuda
