// SPDX-License-Identifier: Apache-2.0
// The Procrustes backend of `dfrot optimize --device cpu|cuda`.
#pragma once

#include <memory>
#include <string>

#include "dfrot/rotation/procrustes_backend.hpp"

namespace dfrot::app {

/// "cpu": EigenProcrustesBackend(n_threads); "cuda": CudaProcrustesBackend on the current GPU.
/// \throws UsageError for another name, a build without CUDA, or a machine without a CUDA device.
std::unique_ptr<rotation::ProcrustesBackend> make_procrustes_backend(std::string const& device, int n_threads);

}  // namespace dfrot::app
