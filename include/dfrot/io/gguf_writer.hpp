// SPDX-License-Identifier: Apache-2.0
// GgufWriter: writes GGUF v3 files (typed metadata + F32 tensors) that GgufFile reads back, so
// transformed models can be saved in llama.cpp's format with extra keys of our own.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/atomic_file.hpp"
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

/// Collects metadata and tensors, then streams them to a file. Tensor data is referenced, not
/// copied: it must stay alive until write() returns.
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

  /// Adds a tensor of an element type with one element per block (F32, F16, BF16, I8, I16, I32,
  /// I64, F64) from its raw little-endian bytes.
  /// \throws ShapeError when the byte count does not match shape and type or the name repeats,
  /// UsageError for a block-quantized or unknown type.
  void add_tensor(std::string const& name, std::vector<std::size_t> const& shape, GgmlType type,
                  std::span<std::byte const> bytes) {
    GgmlTypeInfo const info = ggml_type_info(type);
    DFROT_THROW_IF(info.block_size != 1, UsageError, "gguf writer: tensor '", name, "' of type ",
                   ggml_type_name(type), ": only element types can be written");
    std::size_t n = 1;
    for (std::size_t s : shape) n *= s;
    DFROT_THROW_IF(shape.empty() || shape.size() > GgufFile::kMaxDims || n * info.type_size != bytes.size(),
                   ShapeError, "gguf writer: tensor '", name, "' has ", bytes.size(),
                   " bytes for a shape of ", shape.size(), " dims / ", n, " ",
                   ggml_type_name(type), " elements");
    for (auto const& t : tensors_)
      DFROT_THROW_IF(t.name == name, ShapeError, "gguf writer: tensor '", name, "' added twice");
    tensors_.push_back({name, std::vector<std::uint64_t>(shape.rbegin(), shape.rend()), type, bytes});
  }

  /// Writes the file (GGUF v3, `alignment`-byte aligned data) through a temporary file renamed
  /// over `path` once complete. \throws IoError naming the file.
  void write(std::filesystem::path const& path, std::size_t alignment = 32) const {
    AtomicOutputFile file(path, "gguf");  // never a half-written model file
    std::ofstream& out = file.stream();
    std::vector<std::uint8_t> head;
    put(head, GgufFile::kMagic);
    put(head, std::uint32_t{3});
    put(head, static_cast<std::uint64_t>(tensors_.size()));
    put(head, static_cast<std::uint64_t>(kv_.size() + 1));
    put_string(head, "general.alignment");
    put(head, static_cast<std::uint32_t>(GgufType::kUint32));
    put(head, static_cast<std::uint32_t>(alignment));
    for (auto const& [k, v] : kv_) {
      put_string(head, k);
      put(head, static_cast<std::uint32_t>(v.type));
      put_value(head, v);
    }
    std::uint64_t offset = 0;
    for (auto const& t : tensors_) {
      put_string(head, t.name);
      put(head, static_cast<std::uint32_t>(t.dims.size()));
      for (std::uint64_t d : t.dims) put(head, d);
      put(head, static_cast<std::uint32_t>(t.type));
      put(head, offset);
      offset += padded(t.data.size(), alignment);
    }
    head.resize(padded(head.size(), alignment), 0);
    out.write(reinterpret_cast<char const*>(head.data()), static_cast<std::streamsize>(head.size()));
    std::vector<char> const zeros(alignment, 0);
    for (auto const& t : tensors_) {
      std::size_t const bytes = t.data.size();
      out.write(reinterpret_cast<char const*>(t.data.data()), static_cast<std::streamsize>(bytes));
      out.write(zeros.data(), static_cast<std::streamsize>(padded(bytes, alignment) - bytes));
    }
    file.commit();
  }

 private:
  struct Entry {
    std::string name;
    std::vector<std::uint64_t> dims;
    GgmlType type;
    std::span<std::byte const> data;
  };

  static std::size_t padded(std::size_t n, std::size_t a) { return (n + a - 1) / a * a; }
  template <class V>
  static void put(std::vector<std::uint8_t>& out, V v) {
    std::uint8_t b[sizeof(V)];
    std::memcpy(b, &v, sizeof(V));
    out.insert(out.end(), b, b + sizeof(V));
  }
  static void put_string(std::vector<std::uint8_t>& out, std::string const& s) {
    put(out, static_cast<std::uint64_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  static void put_value(std::vector<std::uint8_t>& out, GgufValue const& v) {
    auto as_u = [&] { return std::holds_alternative<std::uint64_t>(v.value)
                                 ? std::get<std::uint64_t>(v.value)
                                 : static_cast<std::uint64_t>(std::get<std::int64_t>(v.value)); };
    switch (v.type) {
      case GgufType::kUint8: case GgufType::kInt8: put(out, static_cast<std::uint8_t>(as_u())); break;
      case GgufType::kUint16: case GgufType::kInt16: put(out, static_cast<std::uint16_t>(as_u())); break;
      case GgufType::kUint32: case GgufType::kInt32: put(out, static_cast<std::uint32_t>(as_u())); break;
      case GgufType::kUint64: case GgufType::kInt64: put(out, as_u()); break;
      case GgufType::kFloat32: put(out, static_cast<float>(std::get<double>(v.value))); break;
      case GgufType::kFloat64: put(out, std::get<double>(v.value)); break;
      case GgufType::kBool: put(out, static_cast<std::uint8_t>(std::get<bool>(v.value))); break;
      case GgufType::kString: put_string(out, std::get<std::string>(v.value)); break;
      case GgufType::kArray: {
        GgufArray const& a = std::get<GgufArray>(v.value);
        put(out, static_cast<std::uint32_t>(a.type));
        put(out, static_cast<std::uint64_t>(a.items.size()));
        for (GgufValue const& item : a.items) {
          DFROT_THROW_IF(item.type != a.type, UsageError, "gguf writer: array of ",
                         gguf_type_name(a.type), " holds a ", gguf_type_name(item.type));
          put_value(out, item);
        }
        break;
      }
    }
  }

  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Entry> tensors_;
};

}  // namespace dfrot::io
