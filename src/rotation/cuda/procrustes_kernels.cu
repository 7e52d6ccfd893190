// SPDX-License-Identifier: Apache-2.0
#include "dfrot/rotation/cuda/procrustes_kernels.hpp"

#include "dfrot/core/cuda/check.hpp"

namespace dfrot::rotation::cuda {
namespace {

constexpr int kQuantThreads = 256;

// One block per row; the two block reductions (max |y|, then the float64 squared error) run in
// shared memory.
__global__ void quantize_rows_kernel(float const* y, float* b, std::size_t d, float const* weight,
                                     bool scale_rows, float maxq, float qmin, float qmax,
                                     double* row_sq_error, int* bad) {
  __shared__ float s_max[kQuantThreads];
  __shared__ double s_err[kQuantThreads];
  std::size_t const r = blockIdx.x;
  float const* yr = y + r * d;
  float* br = b + r * d;
  float m = 0.0f;
  bool finite = true;
  for (std::size_t j = threadIdx.x; j < d; j += blockDim.x) {
    float const v = yr[j];
    finite = finite && isfinite(v);
    m = fmaxf(m, fabsf(v));
  }
  if (!finite) atomicExch(bad, 1);
  s_max[threadIdx.x] = m;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) s_max[threadIdx.x] = fmaxf(s_max[threadIdx.x], s_max[threadIdx.x + s]);
    __syncthreads();
  }
  float scale = __fdiv_rn(s_max[0], maxq);
  if (!(scale > 0.0f)) scale = 1.0f;
  float const w = scale_rows ? weight[r] : 1.0f;
  double e2 = 0.0;
  for (std::size_t j = threadIdx.x; j < d; j += blockDim.x) {
    float const v = yr[j];
    float const q = fminf(fmaxf(rintf(__fdiv_rn(v, scale)), qmin), qmax);  // rintf: half to even
    float const bq = __fmul_rn(scale, q);
    double const e = static_cast<double>(v) - static_cast<double>(bq);
    e2 += e * e;
    br[j] = w != 1.0f ? __fmul_rn(bq, w) : bq;
  }
  s_err[threadIdx.x] = e2;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) s_err[threadIdx.x] += s_err[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) row_sq_error[r] = s_err[0];
}

__global__ void accumulate_kernel(double* acc, float const* x, std::size_t n) {
  std::size_t const i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) acc[i] += static_cast<double>(x[i]);
}

}  // namespace

void launch_quantize_rows(float const* y, float* b, std::size_t rows, std::size_t d, float const* weight,
                          bool scale_rows, float maxq, float qmin, float qmax, double* row_sq_error, int* bad,
                          cudaStream_t stream) {
  if (rows == 0) return;
  quantize_rows_kernel<<<static_cast<unsigned>(rows), kQuantThreads, 0, stream>>>(
      y, b, d, weight, scale_rows, maxq, qmin, qmax, row_sq_error, bad);
  DFROT_CUDA_CHECK(cudaGetLastError());
}

void launch_accumulate(double* acc, float const* x, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  accumulate_kernel<<<static_cast<unsigned>((n + 255) / 256), 256, 0, stream>>>(acc, x, n);
  DFROT_CUDA_CHECK(cudaGetLastError());
}

}  // namespace dfrot::rotation::cuda
