// SPDX-License-Identifier: Apache-2.0
// SafetensorsFile: a memory-mapped Hugging Face .safetensors file (8-byte header length, JSON
// header, raw little-endian data); F32/F16/BF16 tensors converted to float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/file_read.hpp"
#include "dfrot/io/gguf_dequant.hpp"
#include "dfrot/io/mapped_file.hpp"

namespace dfrot::io {

/// One tensor of a safetensors header. Offsets are relative to the start of the data section.
struct SafetensorsTensorInfo {
  std::string name;
  std::string dtype;  ///< "F32", "F16", "BF16", "I64", ...
  std::vector<std::size_t> shape;
  std::size_t begin = 0, end = 0;
  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;
    return n;
  }
};

/// Bytes per element of a safetensors dtype; 0 when unknown.
inline std::size_t safetensors_dtype_bytes(std::string_view dtype) noexcept {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" ||
      dtype == "F8_E5M2") {
    return 1;
  }
  return 0;
}

/// A .safetensors file, mapped and validated on open: the header parses, every tensor's byte range
/// lies in the data section and matches dtype x shape.
class SafetensorsFile {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{100} << 20;

  explicit SafetensorsFile(std::filesystem::path const& path)
      : file_(path), where_(str_cat("safetensors '", path.string(), "'")) {
    try {
      parse();
    } catch (nlohmann::json::exception const& e) {  // a header field of another JSON type
      throw FormatError(str_cat(where_, ": malformed json header field: ", e.what()));
    }
  }

  std::filesystem::path const& path() const noexcept { return file_.path(); }
  std::string const& where() const noexcept { return where_; }
  std::vector<SafetensorsTensorInfo> const& tensors() const noexcept { return tensors_; }
  std::map<std::string, std::string> const& metadata() const noexcept { return metadata_; }

  SafetensorsTensorInfo const* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

  std::span<std::byte const> tensor_bytes(SafetensorsTensorInfo const& t) const {
    return file_.bytes().subspan(data_offset_ + t.begin, t.end - t.begin);
  }

  /// Converts an F32/F16/BF16 tensor to float.
  /// \throws FormatError naming file and tensor for other dtypes.
  std::vector<float> read_f32(SafetensorsTensorInfo const& t) const {
    std::vector<float> out(t.numel());
    read_f32_into(t, out);
    return out;
  }

  /// read_f32 into `out` (t.numel() floats). \throws ShapeError for another size.
  void read_f32_into(SafetensorsTensorInfo const& t, std::span<float> out) const {
    GgmlType const type = float_type(t);
    DFROT_THROW_IF(out.size() != t.numel(), ShapeError, where_, ": tensor '", t.name, "' has ",
                   t.numel(), " values, the destination ", out.size());
    dequantize(type, tensor_bytes(t), out);
  }

  /// \throws FormatError naming file and tensor unless read_f32 can convert the tensor.
  void check_convertible(SafetensorsTensorInfo const& t) const { (void)float_type(t); }

  /// Drops the tensor's pages from the resident set (MappedFile::release): read once, a tensor of
  /// a model larger than memory costs nothing after its conversion.
  void release(SafetensorsTensorInfo const& t) const noexcept {
    file_.release(data_offset_ + t.begin, t.end - t.begin);
  }

 private:
  GgmlType float_type(SafetensorsTensorInfo const& t) const {
    if (t.dtype == "F32") return GgmlType::kF32;
    if (t.dtype == "F16") return GgmlType::kF16;
    if (t.dtype == "BF16") return GgmlType::kBF16;
    throw FormatError(str_cat(where_, ": tensor '", t.name, "' has dtype ", t.dtype,
                              " (supported: F32, F16, BF16)"));
  }

  void parse() {
    ByteReader r(file_.bytes(), where_);
    std::uint64_t const n = r.read<std::uint64_t>("header length");
    if (n > kMaxHeaderBytes || n > r.remaining()) {
      r.fail("header length ", n, " at byte 0 exceeds ",
             n > kMaxHeaderBytes ? "the 100 MiB limit" : "the file size",
             " (truncated or not safetensors?)");
    }
    std::string const text = r.read_string(static_cast<std::size_t>(n), "json header");
    data_offset_ = r.offset();
    std::size_t const data_size = r.remaining();
    nlohmann::json const header = parse_json(text, str_cat(where_, ": json header"));
    if (!header.is_object()) r.fail("json header is not an object");
    for (auto it = header.begin(); it != header.end(); ++it) {
      std::string const& name = it.key();
      nlohmann::json const& v = it.value();
      if (name == "__metadata__") {
        if (!v.is_object()) r.fail("__metadata__ is not an object");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (m.value().is_string()) metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      std::string const field = str_cat("tensor '", name, "'");
      if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() ||
          !v.contains("shape") || !v["shape"].is_array() || !v.contains("data_offsets") ||
          !v["data_offsets"].is_array() || v["data_offsets"].size() != 2) {
        r.fail(field, ": header entry needs dtype, shape and data_offsets [begin, end]");
      }
      SafetensorsTensorInfo t;
      t.name = name;
      t.dtype = v["dtype"].get<std::string>();
      std::uint64_t numel = 1;
      for (auto const& d : v["shape"]) {
        if (!d.is_number_unsigned()) r.fail(field, ": shape holds a non-integer or negative value");
        auto const dim = d.get<std::uint64_t>();
        if (dim != 0 && numel > (std::uint64_t{1} << 50) / dim)
          r.fail(field, ": shape is too large");
        numel *= dim;
        t.shape.push_back(static_cast<std::size_t>(dim));
      }
      auto const& off = v["data_offsets"];
      if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
        r.fail(field, ": data_offsets are not non-negative integers");
      }
      auto const begin = off[0].get<std::uint64_t>(), end = off[1].get<std::uint64_t>();
      if (begin > end || end > data_size) {
        r.fail(field, " ends at byte ", data_offset_ + end, " > file size ", file_.size(),
               begin > end ? " (begin after end)" : " (truncated?)");
      }
      t.begin = static_cast<std::size_t>(begin);
      t.end = static_cast<std::size_t>(end);
      std::size_t const elem = safetensors_dtype_bytes(t.dtype);
      if (elem != 0 && end - begin != numel * elem) {
        r.fail(field, ": ", end - begin, " data bytes but dtype ", t.dtype, " x shape needs ",
               numel * elem);
      }
      index_[t.name] = tensors_.size();
      tensors_.push_back(std::move(t));
    }
  }

  MappedFile file_;
  std::string where_;
  std::size_t data_offset_ = 0;
  std::vector<SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace dfrot::io
