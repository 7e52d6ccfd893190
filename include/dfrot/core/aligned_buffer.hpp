// SPDX-License-Identifier: Apache-2.0
// AlignedBuffer: an owning, 64-byte aligned array of trivially copyable elements.
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>

namespace dfrot {

inline constexpr std::size_t kCacheLineBytes = 64;

template <class Element>
class AlignedBuffer {
  static_assert(std::is_trivially_copyable_v<Element>);

 public:
  AlignedBuffer() = default;
  /// `n` zero-initialised elements.
  explicit AlignedBuffer(std::size_t n) : data_(allocate(n)), size_(n) {
    if (n != 0) std::memset(data_.get(), 0, n * sizeof(Element));
  }

  Element* data() { return data_.get(); }
  Element const* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  Element& operator[](std::size_t i) { return data_[i]; }
  Element const& operator[](std::size_t i) const { return data_[i]; }
  std::span<Element> span() { return {data_.get(), size_}; }
  std::span<Element const> span() const { return {data_.get(), size_}; }

 private:
  struct Free {
    void operator()(Element* p) const {
      ::operator delete[](p, std::align_val_t{kCacheLineBytes});
    }
  };
  static Element* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    return static_cast<Element*>(
        ::operator new[](n * sizeof(Element), std::align_val_t{kCacheLineBytes}));
  }

  std::unique_ptr<Element[], Free> data_;
  std::size_t size_ = 0;
};

}  // namespace dfrot
