// SPDX-License-Identifier: Apache-2.0
// GgufWriter / GgufStreamWriter: write GGUF v3 files (typed metadata + element-type tensors) that
// GgufFile reads back, so transformed models can be saved in llama.cpp's format with extra keys of
// our own — all at once, or streamed tensor by tensor for models larger than memory (resumable).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/gguf.hpp"

namespace dfrot::io {

/// Builders for metadata values.
inline GgufValue gguf_string(std::string s) { return {GgufType::kString, std::move(s)}; }
inline GgufValue gguf_u32(std::uint32_t v) { return {GgufType::kUint32, std::uint64_t{v}}; }
inline GgufValue gguf_i32(std::int32_t v) { return {GgufType::kInt32, std::int64_t{v}}; }
inline GgufValue gguf_u64(std::uint64_t v) { return {GgufType::kUint64, v}; }
inline GgufValue gguf_f32(double v) { return {GgufType::kFloat32, v}; }
inline GgufValue gguf_f64(double v) { return {GgufType::kFloat64, v}; }
inline GgufValue gguf_bool(bool v) { return {GgufType::kBool, v}; }
inline GgufValue gguf_string_array(std::vector<std::string> const& items) {
  GgufArray a{GgufType::kString, {}};
  for (auto const& s : items) a.items.push_back(gguf_string(s));
  return {GgufType::kArray, std::move(a)};
}
inline GgufValue gguf_f32_array(std::span<float const> items) {
  GgufArray a{GgufType::kFloat32, {}};
  for (float f : items) a.items.push_back(gguf_f32(static_cast<double>(f)));
  return {GgufType::kArray, std::move(a)};
}
inline GgufValue gguf_i32_array(std::span<int const> items) {
  GgufArray a{GgufType::kInt32, {}};
  for (int v : items) a.items.push_back(gguf_i32(v));
  return {GgufType::kArray, std::move(a)};
}

/// A tensor of a file being written: its name, row-major shape and element type.
struct GgufTensorSpec {
  std::string name;
  std::vector<std::size_t> shape;  ///< row-major ([out, in]); stored in ggml's reversed order
  GgmlType type = GgmlType::kF32;

  /// Bytes of the data: element types (F32, F16, BF16, I8 … F64) or ggml blocks (Q8_0, Q4_0, …:
  /// each row, the last dimension, a whole number of blocks).
  /// \throws ShapeError for an empty or over-long shape or rows that are not whole blocks,
  /// UsageError for a type whose layout dfrot does not know.
  std::size_t bytes() const {
    GgmlTypeInfo const info = ggml_type_info(type);
    DFROT_THROW_IF(info.block_size == 0, UsageError, "gguf writer: tensor '", name, "' of type ",
                   ggml_type_name(type), ": unknown layout");
    DFROT_THROW_IF(shape.empty() || shape.size() > GgufFile::kMaxDims, ShapeError, "gguf writer: tensor '",
                   name, "' has ", shape.size(), " dims (1 … ", GgufFile::kMaxDims, " allowed)");
    DFROT_THROW_IF(shape.back() % info.block_size != 0, ShapeError, "gguf writer: tensor '", name,
                   "': rows of ", shape.back(), " are not whole ", ggml_type_name(type), " blocks of ",
                   info.block_size);
    std::size_t n = 1;
    for (std::size_t s : shape) n *= s;
    return n / info.block_size * info.type_size;
  }
};

namespace detail {
inline std::size_t gguf_padded(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }
template <class V>
void gguf_put(std::vector<std::uint8_t>& out, V v) {
  std::uint8_t b[sizeof(V)];
  std::memcpy(b, &v, sizeof(V));
  out.insert(out.end(), b, b + sizeof(V));
}
inline void gguf_put_string(std::vector<std::uint8_t>& out, std::string const& s) {
  gguf_put(out, static_cast<std::uint64_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}
inline void gguf_put_value(std::vector<std::uint8_t>& out, GgufValue const& v) {
  auto as_u = [&] { return std::holds_alternative<std::uint64_t>(v.value)
                               ? std::get<std::uint64_t>(v.value)
                               : static_cast<std::uint64_t>(std::get<std::int64_t>(v.value)); };
  switch (v.type) {
    case GgufType::kUint8: case GgufType::kInt8: gguf_put(out, static_cast<std::uint8_t>(as_u())); break;
    case GgufType::kUint16: case GgufType::kInt16: gguf_put(out, static_cast<std::uint16_t>(as_u())); break;
    case GgufType::kUint32: case GgufType::kInt32: gguf_put(out, static_cast<std::uint32_t>(as_u())); break;
    case GgufType::kUint64: case GgufType::kInt64: gguf_put(out, as_u()); break;
    case GgufType::kFloat32: gguf_put(out, static_cast<float>(std::get<double>(v.value))); break;
    case GgufType::kFloat64: gguf_put(out, std::get<double>(v.value)); break;
    case GgufType::kBool: gguf_put(out, static_cast<std::uint8_t>(std::get<bool>(v.value))); break;
    case GgufType::kString: gguf_put_string(out, std::get<std::string>(v.value)); break;
    case GgufType::kArray: {
      GgufArray const& a = std::get<GgufArray>(v.value);
      gguf_put(out, static_cast<std::uint32_t>(a.type));
      gguf_put(out, static_cast<std::uint64_t>(a.items.size()));
      for (GgufValue const& item : a.items) {
        DFROT_THROW_IF(item.type != a.type, UsageError, "gguf writer: array of ",
                       gguf_type_name(a.type), " holds a ", gguf_type_name(item.type));
        gguf_put_value(out, item);
      }
      break;
    }
  }
}
}  // namespace detail

/// Writes a GGUF v3 file front to back without holding its tensors: the header (metadata and the
/// declared tensor table, offsets included) is written first, then each tensor's bytes with
/// append() in declared order. Memory stays at one tensor, whatever the model's size.
///
/// The file is built as `<path>.partial` and renamed over `path` by commit(). Without commit()
/// (an error, an interrupted run) the partial file stays, and a writer opened with `resume` on
/// the same metadata and tensor table continues it: it checks that the header is byte-identical,
/// drops a torn last tensor and reports the complete ones through has().
class GgufStreamWriter {
 public:
  /// \throws ShapeError / UsageError for a malformed or repeated tensor spec, IoError naming the
  /// file when it cannot be created, FormatError when `resume` finds a partial file written for
  /// other metadata or tensors.
  GgufStreamWriter(std::filesystem::path path, std::vector<std::pair<std::string, GgufValue>> const& kv,
                   std::vector<GgufTensorSpec> specs, std::size_t alignment = 32, bool resume = false)
      : path_(std::move(path)), partial_(path_.string() + ".partial"), specs_(std::move(specs)),
        alignment_(alignment) {
    DFROT_THROW_IF(alignment == 0 || (alignment & (alignment - 1)) != 0, UsageError,
                   "gguf writer: alignment ", alignment, " is not a power of two");
    std::vector<std::uint8_t> const head = header(kv);
    std::error_code ec;
    std::uintmax_t const existing = resume ? std::filesystem::file_size(partial_, ec) : 0;
    if (resume && !ec && existing >= head.size()) {  // (shorter: torn inside the header, restart)
      std::vector<std::uint8_t> old(head.size());
      {
        std::ifstream in(partial_, std::ios::binary);
        in.read(reinterpret_cast<char*>(old.data()), static_cast<std::streamsize>(old.size()));
      }
      DFROT_THROW_IF(old != head, FormatError, "gguf writer: '",
                     partial_.string(), "' was started with other metadata or tensors than this run ",
                     "(different model, scheme or dfrot version); remove it or run without --resume");
      std::size_t keep = head.size();
      while (written_ < specs_.size() && head.size() + offsets_[written_] + specs_[written_].bytes() <= existing) {
        ++written_;
        keep = head.size() + (written_ < specs_.size() ? offsets_[written_] : data_bytes_);
      }
      keep = std::min<std::uintmax_t>(keep, existing);
      std::filesystem::resize_file(partial_, keep, ec);
      DFROT_THROW_IF(ec, IoError, "gguf writer: cannot truncate '", partial_.string(), "': ", ec.message());
      out_.open(partial_, std::ios::binary | std::ios::in | std::ios::out);
      out_.seekp(0, std::ios::end);
      position_ = keep;
      // A torn tensor may have left part of its padding: restore the aligned position.
      pad_to(written_ < specs_.size() ? head.size() + offsets_[written_] : head.size() + data_bytes_);
    } else {
      out_.open(partial_, std::ios::binary | std::ios::out | std::ios::trunc);
      DFROT_THROW_IF(!out_, IoError, "gguf writer: cannot create '", partial_.string(), "'");
      write_bytes(head.data(), head.size());
    }
    DFROT_THROW_IF(!out_, IoError, "gguf writer: cannot write '", partial_.string(), "'");
    header_bytes_ = head.size();
  }
  GgufStreamWriter(GgufStreamWriter const&) = delete;
  GgufStreamWriter& operator=(GgufStreamWriter const&) = delete;
  ~GgufStreamWriter() = default;  // an uncommitted file stays as <path>.partial (resumable)

  /// Whether tensor `name` is already in the file (written, or found complete on resume).
  bool has(std::string_view name) const {
    for (std::size_t i = 0; i < written_; ++i)
      if (specs_[i].name == name) return true;
    return false;
  }
  /// The position of `name` in the tensor table. \throws UsageError for an undeclared name.
  std::size_t index_of(std::string_view name) const {
    for (std::size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].name == name) return i;
    throw UsageError(str_cat("gguf writer '", path_.string(), "': no tensor '", name, "' declared"));
  }
  /// Drops the tensors from `index` on (a part of the file to be written again).
  /// \throws IoError when the file cannot be truncated.
  void rewind_to(std::size_t index) {
    if (index >= written_) return;
    out_.flush();
    std::size_t const end = header_bytes_ + offsets_[index];
    std::error_code ec;
    std::filesystem::resize_file(partial_, end, ec);
    DFROT_THROW_IF(ec, IoError, "gguf writer: cannot truncate '", partial_.string(), "': ", ec.message());
    out_.seekp(static_cast<std::streamoff>(end));
    position_ = end;
    written_ = index;
  }
  /// Tensors in the file so far, of specs().size().
  std::size_t written() const noexcept { return written_; }
  std::vector<GgufTensorSpec> const& specs() const noexcept { return specs_; }
  std::filesystem::path const& partial_path() const noexcept { return partial_; }

  /// Appends the bytes of the next declared tensor.
  /// \throws UsageError when `name` is not the next tensor, ShapeError for a wrong byte count,
  /// IoError when the write fails (disk full).
  void append(std::string_view name, std::span<std::byte const> bytes) {
    DFROT_THROW_IF(written_ >= specs_.size() || specs_[written_].name != name, UsageError,
                   "gguf writer '", path_.string(), "': tensor '", name, "' appended out of order (next is '",
                   written_ < specs_.size() ? specs_[written_].name : std::string("none"), "')");
    std::size_t const n = specs_[written_].bytes();
    DFROT_THROW_IF(bytes.size() != n, ShapeError, "gguf writer '", path_.string(), "': tensor '", name,
                   "' has ", bytes.size(), " bytes, its declared shape and type need ", n);
    write_bytes(bytes.data(), n);
    ++written_;
    pad_to(header_bytes_ + (written_ < specs_.size() ? offsets_[written_] : data_bytes_));
    DFROT_THROW_IF(!out_, IoError, "gguf writer: writing '", partial_.string(), "' failed (disk full?)");
  }

  /// Hands the tensors written so far to the OS (they survive a killed process).
  /// \throws IoError when the write fails (disk full).
  void flush() {
    out_.flush();
    DFROT_THROW_IF(!out_, IoError, "gguf writer: writing '", partial_.string(), "' failed (disk full?)");
  }

  /// Flushes and renames the complete file over `path`.
  /// \throws UsageError when tensors are missing, IoError when the write or rename fails.
  void commit() {
    DFROT_THROW_IF(written_ != specs_.size(), UsageError, "gguf writer '", path_.string(), "': ",
                   specs_.size() - written_, " declared tensors were not written");
    out_.flush();
    out_.close();
    DFROT_THROW_IF(!out_, IoError, "gguf writer: writing '", partial_.string(), "' failed (disk full?)");
    std::error_code ec;
    std::filesystem::rename(partial_, path_, ec);
    DFROT_THROW_IF(ec, IoError, "gguf writer: cannot rename '", partial_.string(), "' to '",
                   path_.string(), "': ", ec.message());
  }

  /// The size the finished file will have.
  std::size_t file_bytes() const noexcept { return header_bytes_ + data_bytes_; }

 private:
  std::vector<std::uint8_t> header(std::vector<std::pair<std::string, GgufValue>> const& kv) {
    using detail::gguf_put;
    std::vector<std::uint8_t> head;
    gguf_put(head, GgufFile::kMagic);
    gguf_put(head, std::uint32_t{3});
    gguf_put(head, static_cast<std::uint64_t>(specs_.size()));
    gguf_put(head, static_cast<std::uint64_t>(kv.size() + 1));
    detail::gguf_put_string(head, "general.alignment");
    gguf_put(head, static_cast<std::uint32_t>(GgufType::kUint32));
    gguf_put(head, static_cast<std::uint32_t>(alignment_));
    for (auto const& [k, v] : kv) {
      detail::gguf_put_string(head, k);
      gguf_put(head, static_cast<std::uint32_t>(v.type));
      detail::gguf_put_value(head, v);
    }
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      GgufTensorSpec const& t = specs_[i];
      std::size_t const bytes = t.bytes();
      for (std::size_t j = 0; j < i; ++j)
        DFROT_THROW_IF(specs_[j].name == t.name, ShapeError, "gguf writer: tensor '", t.name, "' added twice");
      detail::gguf_put_string(head, t.name);
      gguf_put(head, static_cast<std::uint32_t>(t.shape.size()));
      for (auto d = t.shape.rbegin(); d != t.shape.rend(); ++d) gguf_put(head, static_cast<std::uint64_t>(*d));
      gguf_put(head, static_cast<std::uint32_t>(t.type));
      gguf_put(head, static_cast<std::uint64_t>(data_bytes_));
      offsets_.push_back(data_bytes_);
      data_bytes_ += detail::gguf_padded(bytes, alignment_);
    }
    head.resize(detail::gguf_padded(head.size(), alignment_), 0);
    return head;
  }
  void write_bytes(void const* p, std::size_t n) {
    out_.write(static_cast<char const*>(p), static_cast<std::streamsize>(n));
    position_ += n;
  }
  void pad_to(std::size_t end) {
    static constexpr char kZeros[64] = {};
    while (position_ < end) write_bytes(kZeros, std::min<std::size_t>(sizeof kZeros, end - position_));
  }

  std::filesystem::path path_, partial_;
  std::vector<GgufTensorSpec> specs_;
  std::vector<std::size_t> offsets_;  ///< each tensor's offset in the data section
  std::size_t alignment_;
  std::size_t header_bytes_ = 0, data_bytes_ = 0, position_ = 0, written_ = 0;
  std::fstream out_;
};

/// Collects metadata and tensors, then writes them to a file. Tensor data is referenced, not
/// copied: it must stay alive until write() returns. stream() writes the same file tensor by
/// tensor instead (byte-identical for the same metadata and tensors).
class GgufWriter {
 public:
  /// Sets `key` (a later set of the same key replaces the value, keeping its position).
  void set(std::string const& key, GgufValue value) {
    for (auto& [k, v] : kv_) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    kv_.emplace_back(key, std::move(value));
  }

  /// Adds an F32 tensor of row-major `shape` (e.g. [out, in]; stored in ggml's reversed order).
  /// \throws ShapeError when the data size does not match the shape or the name repeats.
  void add_f32_tensor(std::string const& name, std::vector<std::size_t> const& shape,
                      std::span<float const> data) {
    add_tensor(name, shape, GgmlType::kF32, std::as_bytes(data));
  }

  /// Adds a tensor from its raw little-endian bytes: an element type (F32, F16, BF16, I8 … F64) or
  /// ggml blocks (GgufTensorSpec::bytes).
  /// \throws ShapeError when the byte count does not match shape and type or the name repeats,
  /// UsageError for an unknown type.
  void add_tensor(std::string const& name, std::vector<std::size_t> const& shape, GgmlType type,
                  std::span<std::byte const> bytes) {
    GgufTensorSpec spec{name, shape, type};
    std::size_t const n = spec.bytes();
    DFROT_THROW_IF(n != bytes.size(), ShapeError, "gguf writer: tensor '", name, "' has ",
                   bytes.size(), " bytes for a shape of ", shape.size(), " dims / ", n, " bytes of ",
                   ggml_type_name(type));
    for (auto const& t : tensors_)
      DFROT_THROW_IF(t.spec.name == name, ShapeError, "gguf writer: tensor '", name, "' added twice");
    tensors_.push_back({std::move(spec), bytes});
  }

  /// Writes the file (GGUF v3, `alignment`-byte aligned data) through `<path>.partial`, renamed
  /// over `path` once complete. \throws IoError naming the file.
  void write(std::filesystem::path const& path, std::size_t alignment = 32) const {
    std::vector<GgufTensorSpec> specs;
    for (auto const& t : tensors_) specs.push_back(t.spec);
    GgufStreamWriter out(path, kv_, std::move(specs), alignment);
    try {
      for (auto const& t : tensors_) out.append(t.spec.name, t.data);
      out.commit();
    } catch (...) {
      std::error_code ec;
      std::filesystem::remove(out.partial_path(), ec);  // nothing to resume here
      throw;
    }
  }

  /// Opens a streamed file with this writer's metadata and the tensor table `specs` (the tensors
  /// added here are not written). See GgufStreamWriter.
  GgufStreamWriter stream(std::filesystem::path const& path, std::vector<GgufTensorSpec> specs,
                          bool resume = false, std::size_t alignment = 32) const {
    return GgufStreamWriter(path, kv_, std::move(specs), alignment, resume);
  }

 private:
  struct Entry {
    GgufTensorSpec spec;
    std::span<std::byte const> data;
  };

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Entry> tensors_;
};

}  // namespace dfrot::io
