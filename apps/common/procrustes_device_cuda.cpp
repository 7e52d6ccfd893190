// SPDX-License-Identifier: Apache-2.0
// The CUDA half of procrustes_device.cpp (compiled only with DFROT_HAS_CUDA).
#include <memory>

#include "dfrot/core/cuda/device_buffer.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/rotation/cuda/cuda_procrustes_backend.hpp"

namespace dfrot::app {

std::unique_ptr<rotation::ProcrustesBackend> make_cuda_procrustes_backend() {
  DFROT_THROW_IF(dfrot::cuda::device_count() == 0, UsageError,
                 "--device cuda: no CUDA device is visible on this machine");
  return std::make_unique<rotation::cuda::CudaProcrustesBackend>();
}

}  // namespace dfrot::app
