// SPDX-License-Identifier: Apache-2.0
// DeviceBuffer<T>: owning, move-only device allocation with checked host ↔ device copies, and the
// current device's compute capability.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "dfrot/core/cuda/check.hpp"
#include "dfrot/core/error.hpp"

namespace dfrot::cuda {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : size_(n) {
    if (n > 0) DFROT_CUDA_CHECK(cudaMalloc(&data_, n * sizeof(T)));
  }
  /// Allocates and uploads `host`.
  explicit DeviceBuffer(std::span<T const> host) : DeviceBuffer(host.size()) { upload(host); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  DeviceBuffer(DeviceBuffer const&) = delete;
  DeviceBuffer& operator=(DeviceBuffer const&) = delete;
  ~DeviceBuffer() { release(); }

  T* data() { return data_; }
  T const* data() const { return data_; }
  std::size_t size() const { return size_; }

  void upload(std::span<T const> host) {
    DFROT_THROW_IF(host.size() > size_, ShapeError, "DeviceBuffer::upload: ", host.size(),
                   " elements into a buffer of ", size_);
    if (!host.empty()) DFROT_CUDA_CHECK(cudaMemcpy(data_, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> host(size_);
    if (size_ > 0) DFROT_CUDA_CHECK(cudaMemcpy(host.data(), data_, size_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) cudaFree(data_);  // no throw from a destructor
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

/// Number of CUDA devices; 0 (not an error) when there is no driver or no device.
inline int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no device" status
    return 0;
  }
  return n;
}

}  // namespace dfrot::cuda
