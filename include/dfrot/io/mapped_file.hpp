// SPDX-License-Identifier: Apache-2.0
// MappedFile: a read-only memory mapping of a whole file (RAII; POSIX mmap).
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

#include "dfrot/core/error.hpp"

namespace dfrot::io {

/// A read-only, private memory mapping of an entire file. Movable, not copyable. An empty file maps
/// to an empty span (no mapping is made).
class MappedFile {
 public:
  MappedFile() = default;

  /// Maps `path` read-only.
  /// \throws IoError naming the path when it cannot be opened, is not a regular file, or mmap
  /// fails.
  explicit MappedFile(std::filesystem::path const& path) : path_(path) {
    // O_NONBLOCK: a FIFO would block open() forever; fstat below then refuses it.
    int const fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    DFROT_THROW_IF(fd < 0, IoError, "cannot open '", path.string(), "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      int const err = errno;
      ::close(fd);
      throw IoError(str_cat("cannot map '", path.string(), "': ",
                            S_ISREG(st.st_mode) ? std::strerror(err) : "not a regular file"));
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        int const err = errno;
        ::close(fd);
        throw IoError(
            str_cat("cannot mmap '", path.string(), "' (", size_, " bytes): ", std::strerror(err)));
      }
      data_ = static_cast<std::byte const*>(p);
    }
    ::close(fd);  // the mapping stays valid after close
  }

  MappedFile(MappedFile&& other) noexcept
      : path_(std::move(other.path_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      path_ = std::move(other.path_);
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  MappedFile(MappedFile const&) = delete;
  MappedFile& operator=(MappedFile const&) = delete;
  ~MappedFile() { unmap(); }

  /// The mapped bytes ([size()]; empty for an empty file).
  std::span<std::byte const> bytes() const noexcept { return {data_, size_}; }
  std::byte const* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::filesystem::path const& path() const noexcept { return path_; }

  /// Drops the pages holding bytes [offset, offset + n) from this process's resident set; touching
  /// them again reads them back from the file (the mapping is read-only). Reading a model larger
  /// than memory front to back then costs the resident size of one tensor, not of the file.
  void release(std::size_t offset, std::size_t n) const noexcept {
    if (data_ == nullptr || offset >= size_) return;
    std::size_t const page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    std::size_t const begin = offset / page * page;
    std::size_t const end = std::min(size_, offset + std::min(n, size_ - offset));
    ::madvise(const_cast<std::byte*>(data_) + begin, end - begin, MADV_DONTNEED);
  }

 private:
  void unmap() noexcept {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  std::filesystem::path path_;
  std::byte const* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace dfrot::io
