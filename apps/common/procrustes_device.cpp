// SPDX-License-Identifier: Apache-2.0
#include "common/procrustes_device.hpp"

#include "dfrot/core/error.hpp"

namespace dfrot::app {

#if DFROT_HAS_CUDA
std::unique_ptr<rotation::ProcrustesBackend> make_cuda_procrustes_backend();  // procrustes_device_cuda.cpp
#endif

std::unique_ptr<rotation::ProcrustesBackend> make_procrustes_backend(std::string const& device, int n_threads) {
  if (device == "cpu") return std::make_unique<rotation::EigenProcrustesBackend>(n_threads);
  DFROT_THROW_IF(device != "cuda", UsageError, "--device: expected cpu or cuda, got '", device, "'");
#if DFROT_HAS_CUDA
  return make_cuda_procrustes_backend();
#else
  throw UsageError("--device cuda: this dfrot was built without CUDA (configure with DFROT_CUDA=ON)");
#endif
}

}  // namespace dfrot::app
