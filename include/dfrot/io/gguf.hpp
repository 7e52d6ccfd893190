// SPDX-License-Identifier: Apache-2.0
// GgufFile: a memory-mapped GGUF v2/v3 file (llama.cpp's format): typed metadata, tensor table,
// validated tensor data, dequantization to float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "dfrot/core/error.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/gguf_dequant.hpp"
#include "dfrot/io/mapped_file.hpp"

namespace dfrot::io {

/// Metadata value types of GGUF (ids are part of the format).
enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

inline char const* gguf_type_name(GgufType t) noexcept {
  switch (t) {
    case GgufType::kUint8:
      return "uint8";
    case GgufType::kInt8:
      return "int8";
    case GgufType::kUint16:
      return "uint16";
    case GgufType::kInt16:
      return "int16";
    case GgufType::kUint32:
      return "uint32";
    case GgufType::kInt32:
      return "int32";
    case GgufType::kFloat32:
      return "float32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "string";
    case GgufType::kArray:
      return "array";
    case GgufType::kUint64:
      return "uint64";
    case GgufType::kInt64:
      return "int64";
    case GgufType::kFloat64:
      return "float64";
  }
  return "unknown";
}

struct GgufValue;

/// A homogeneous GGUF array: element type + items.
struct GgufArray {
  GgufType type = GgufType::kUint8;
  std::vector<GgufValue> items;
};

/// One typed metadata value. Integers are held widened (signed in int64, unsigned in uint64),
/// floats in double; `type` keeps the type stored in the file.
struct GgufValue {
  GgufType type = GgufType::kUint8;
  std::variant<std::uint64_t, std::int64_t, double, bool, std::string, GgufArray> value;

  bool is_integer() const noexcept {
    return std::holds_alternative<std::uint64_t>(value) ||
           std::holds_alternative<std::int64_t>(value);
  }
  bool is_float() const noexcept { return std::holds_alternative<double>(value); }
  bool is_bool() const noexcept { return std::holds_alternative<bool>(value); }
  bool is_string() const noexcept { return std::holds_alternative<std::string>(value); }
  bool is_array() const noexcept { return std::holds_alternative<GgufArray>(value); }
};

/// One entry of the tensor table. `dims` are in ggml order (dims[0] varies fastest);
/// shape() gives the row-major (PyTorch) order, i.e. reversed.
struct GgufTensorInfo {
  std::string name;
  std::vector<std::uint64_t> dims;
  GgmlType type = GgmlType::kF32;
  std::uint64_t offset = 0;  ///< relative to the start of the data section
  std::uint64_t n_elements = 0;
  std::uint64_t n_bytes = 0;  ///< 0 when the type's layout is unknown

  std::vector<std::size_t> shape() const {
    return std::vector<std::size_t>(dims.rbegin(), dims.rend());
  }
};

/// A GGUF file, memory-mapped and validated on open: header, metadata, tensor table, alignment,
/// and every tensor's data range (inside the file, size consistent with type and shape).
class GgufFile {
 public:
  static constexpr std::uint32_t kMagic = 0x46554747u;  // "GGUF" read as little-endian uint32
  static constexpr std::size_t kMaxDims = 4;
  static constexpr int kMaxArrayDepth = 4;

  /// Opens and validates `path`.
  /// \throws IoError when it cannot be read; FormatError naming the file, offset and field when
  /// the content is malformed.
  explicit GgufFile(std::filesystem::path const& path) : file_(path) {
    where_ = str_cat("gguf '", path.string(), "'");
    parse();
  }

  std::filesystem::path const& path() const noexcept { return file_.path(); }
  /// "gguf '<path>'": prefix for error messages.
  std::string const& where() const noexcept { return where_; }
  std::uint32_t version() const noexcept { return version_; }
  std::size_t alignment() const noexcept { return alignment_; }
  std::size_t data_offset() const noexcept { return data_offset_; }
  std::size_t file_size() const noexcept { return file_.size(); }

  /// Metadata in file order.
  std::vector<std::pair<std::string, GgufValue>> const& metadata() const noexcept { return kv_; }
  /// The value of `key`, or nullptr.
  GgufValue const* find(std::string_view key) const {
    auto it = kv_index_.find(std::string(key));
    return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
  }
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  /// Typed getters: throw FormatError when the key is missing or has an incompatible type.
  std::uint64_t get_uint(std::string_view key) const { return to_uint(key, require(key)); }
  std::int64_t get_int(std::string_view key) const { return to_int(key, require(key)); }
  double get_float(std::string_view key) const { return to_float(key, require(key)); }
  bool get_bool(std::string_view key) const {
    GgufValue const& v = require(key);
    if (!v.is_bool()) type_error(key, v, "bool");
    return std::get<bool>(v.value);
  }
  std::string const& get_string(std::string_view key) const {
    GgufValue const& v = require(key);
    if (!v.is_string()) type_error(key, v, "string");
    return std::get<std::string>(v.value);
  }
  GgufArray const& get_array(std::string_view key) const {
    GgufValue const& v = require(key);
    if (!v.is_array()) type_error(key, v, "array");
    return std::get<GgufArray>(v.value);
  }
  /// Getters with a default for absent keys (a present key of the wrong type still throws).
  std::uint64_t get_uint_or(std::string_view key, std::uint64_t def) const {
    GgufValue const* v = find(key);
    return v != nullptr ? to_uint(key, *v) : def;
  }
  double get_float_or(std::string_view key, double def) const {
    GgufValue const* v = find(key);
    return v != nullptr ? to_float(key, *v) : def;
  }
  bool get_bool_or(std::string_view key, bool def) const {
    return find(key) != nullptr ? get_bool(key) : def;
  }
  std::string get_string_or(std::string_view key, std::string def) const {
    return find(key) != nullptr ? get_string(key) : def;
  }
  /// Array of strings / numbers, converted element-wise.
  std::vector<std::string> get_string_array(std::string_view key) const {
    GgufArray const& a = get_array(key);
    std::vector<std::string> out;
    out.reserve(a.items.size());
    for (GgufValue const& item : a.items) {
      if (!item.is_string()) type_error(key, item, "array of string");
      out.push_back(std::get<std::string>(item.value));
    }
    return out;
  }
  std::vector<double> get_float_array(std::string_view key) const {
    GgufArray const& a = get_array(key);
    std::vector<double> out;
    out.reserve(a.items.size());
    for (GgufValue const& item : a.items) out.push_back(to_float(key, item));
    return out;
  }
  std::vector<std::int64_t> get_int_array(std::string_view key) const {
    GgufArray const& a = get_array(key);
    std::vector<std::int64_t> out;
    out.reserve(a.items.size());
    for (GgufValue const& item : a.items) out.push_back(to_int(key, item));
    return out;
  }

  /// Tensor table in file order.
  std::vector<GgufTensorInfo> const& tensors() const noexcept { return tensors_; }
  GgufTensorInfo const* find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
  }
  /// \throws FormatError when absent.
  GgufTensorInfo const& tensor(std::string_view name) const {
    GgufTensorInfo const* t = find_tensor(name);
    DFROT_THROW_IF(t == nullptr, FormatError, where_, ": tensor '", name, "' is missing");
    return *t;
  }

  /// The raw (possibly quantized) bytes of a tensor, inside the mapping.
  std::span<std::byte const> tensor_bytes(GgufTensorInfo const& t) const {
    DFROT_THROW_IF(t.n_bytes == 0 && t.n_elements != 0, FormatError, where_, ": tensor '", t.name,
                   "' has type ", ggml_type_name(t.type), " whose layout dfrot does not know");
    return file_.bytes().subspan(data_offset_ + t.offset, t.n_bytes);
  }

  /// Drops a tensor's pages from the resident set once it has been read (MappedFile::release).
  void release(GgufTensorInfo const& t) const noexcept {
    file_.release(data_offset_ + t.offset, t.n_bytes);
  }

  /// Dequantizes a tensor to float ([n_elements], row-major in shape() order).
  /// \throws FormatError naming the file and tensor for unsupported types.
  std::vector<float> read_f32(GgufTensorInfo const& t) const {
    check_dequantizable(t);  // before allocating n_elements floats
    std::vector<float> out(t.n_elements);
    read_f32_into(t, out);
    return out;
  }
  void read_f32_into(GgufTensorInfo const& t, std::span<float> out) const {
    DFROT_THROW_IF(out.size() != t.n_elements, ShapeError, where_, ": tensor '", t.name, "' has ",
                   t.n_elements, " elements but the destination holds ", out.size());
    check_dequantizable(t);
    dequantize(t.type, tensor_bytes(t), out);
  }
  /// \throws FormatError naming the file and tensor unless read_f32 supports its type.
  void check_dequantizable(GgufTensorInfo const& t) const {
    DFROT_THROW_IF(!ggml_type_info(t.type).dequantizable, FormatError, where_, ": tensor '", t.name,
                   "': unsupported type ", ggml_type_name(t.type),
                   " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q6_K)");
  }

 private:
  GgufValue const& require(std::string_view key) const {
    GgufValue const* v = find(key);
    DFROT_THROW_IF(v == nullptr, FormatError, where_, ": metadata key '", key, "' is missing");
    return *v;
  }
  [[noreturn]] void type_error(std::string_view key, GgufValue const& v, char const* want) const {
    throw FormatError(str_cat(where_, ": metadata key '", key, "' has type ",
                              gguf_type_name(v.type), ", expected ", want));
  }
  std::uint64_t to_uint(std::string_view key, GgufValue const& v) const {
    if (auto const* u = std::get_if<std::uint64_t>(&v.value)) return *u;
    if (auto const* i = std::get_if<std::int64_t>(&v.value)) {
      DFROT_THROW_IF(*i < 0, FormatError, where_, ": metadata key '", key, "' is negative (", *i,
                     "), expected an unsigned value");
      return static_cast<std::uint64_t>(*i);
    }
    type_error(key, v, "an integer");
  }
  std::int64_t to_int(std::string_view key, GgufValue const& v) const {
    if (auto const* i = std::get_if<std::int64_t>(&v.value)) return *i;
    if (auto const* u = std::get_if<std::uint64_t>(&v.value)) {
      // uint32 0xFFFFFFFF is llama.cpp's "no token" marker: map it to -1.
      if (v.type == GgufType::kUint32 && *u == 0xFFFFFFFFull) return -1;
      DFROT_THROW_IF(*u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()),
                     FormatError, where_, ": metadata key '", key, "' value ", *u,
                     " does not fit int64");
      return static_cast<std::int64_t>(*u);
    }
    type_error(key, v, "an integer");
  }
  double to_float(std::string_view key, GgufValue const& v) const {
    if (auto const* d = std::get_if<double>(&v.value)) return *d;
    if (auto const* u = std::get_if<std::uint64_t>(&v.value)) return static_cast<double>(*u);
    if (auto const* i = std::get_if<std::int64_t>(&v.value)) return static_cast<double>(*i);
    type_error(key, v, "a number");
  }

  std::string read_gguf_string(ByteReader& r, std::string_view field) {
    std::uint64_t const n = r.read<std::uint64_t>(field);
    if (n > r.remaining()) {
      r.fail(field, " at byte ", r.offset() - 8, ": string length ", n, " exceeds the ",
             r.remaining(), " bytes left in the file (truncated or corrupt)");
    }
    return r.read_string(static_cast<std::size_t>(n), field);
  }

  // Smallest encoded size of one value of `t` (for validating array counts before allocating).
  static std::size_t min_value_bytes(GgufType t) noexcept {
    switch (t) {
      case GgufType::kUint8:
      case GgufType::kInt8:
      case GgufType::kBool:
        return 1;
      case GgufType::kUint16:
      case GgufType::kInt16:
        return 2;
      case GgufType::kUint32:
      case GgufType::kInt32:
      case GgufType::kFloat32:
        return 4;
      case GgufType::kUint64:
      case GgufType::kInt64:
      case GgufType::kFloat64:
      case GgufType::kString:
        return 8;
      case GgufType::kArray:
        return 12;
    }
    return 1;
  }

  GgufValue read_value(ByteReader& r, GgufType type, std::string const& key, int depth) {
    GgufValue out;
    out.type = type;
    switch (type) {
      case GgufType::kUint8:
        out.value = std::uint64_t{r.read<std::uint8_t>(key)};
        break;
      case GgufType::kInt8:
        out.value = std::int64_t{r.read<std::int8_t>(key)};
        break;
      case GgufType::kUint16:
        out.value = std::uint64_t{r.read<std::uint16_t>(key)};
        break;
      case GgufType::kInt16:
        out.value = std::int64_t{r.read<std::int16_t>(key)};
        break;
      case GgufType::kUint32:
        out.value = std::uint64_t{r.read<std::uint32_t>(key)};
        break;
      case GgufType::kInt32:
        out.value = std::int64_t{r.read<std::int32_t>(key)};
        break;
      case GgufType::kUint64:
        out.value = r.read<std::uint64_t>(key);
        break;
      case GgufType::kInt64:
        out.value = r.read<std::int64_t>(key);
        break;
      case GgufType::kFloat32:
        out.value = static_cast<double>(r.read<float>(key));
        break;
      case GgufType::kFloat64:
        out.value = r.read<double>(key);
        break;
      case GgufType::kBool: {
        std::size_t const at = r.offset();
        std::uint8_t const b = r.read<std::uint8_t>(key);
        if (b > 1)
          r.fail("metadata '", key, "' at byte ", at, ": bool value ", int{b}, " is not 0 or 1");
        out.value = b != 0;
        break;
      }
      case GgufType::kString:
        out.value = read_gguf_string(r, key);
        break;
      case GgufType::kArray: {
        std::size_t const at = r.offset();
        if (depth >= kMaxArrayDepth) {
          r.fail("metadata '", key, "' at byte ", at, ": arrays nested deeper than ",
                 kMaxArrayDepth);
        }
        auto const elem = static_cast<GgufType>(r.read<std::uint32_t>(key));
        if (static_cast<std::uint32_t>(elem) > 12) {
          r.fail("metadata '", key, "' at byte ", at, ": unknown array element type ",
                 static_cast<std::uint32_t>(elem));
        }
        std::uint64_t const n = r.read<std::uint64_t>(key);
        if (n > r.remaining() / min_value_bytes(elem)) {
          r.fail("metadata '", key, "' at byte ", at, ": array of ", n, " ", gguf_type_name(elem),
                 " cannot fit in the ", r.remaining(), " bytes left (truncated or corrupt)");
        }
        GgufArray arr;
        arr.type = elem;
        arr.items.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i)
          arr.items.push_back(read_value(r, elem, key, depth + 1));
        out.value = std::move(arr);
        break;
      }
      default:
        r.fail("metadata '", key, "' at byte ", r.offset() - 4, ": unknown value type ",
               static_cast<std::uint32_t>(type));
    }
    return out;
  }

  void parse() {
    ByteReader r(file_.bytes(), where_);
    std::uint32_t const magic = r.read<std::uint32_t>("magic");
    if (magic != kMagic) {
      r.fail("bad magic 0x", std::hex, magic, std::dec,
             " at byte 0 (expected 'GGUF'; not a gguf file)");
    }
    version_ = r.read<std::uint32_t>("version");
    if (version_ == 1) r.fail("gguf version 1 is not supported (only versions 2 and 3)");
    if (version_ != 2 && version_ != 3) {
      if ((version_ & 0xFFFFu) == 0 && version_ != 0) {
        r.fail("version field 0x", std::hex, version_, std::dec,
               " looks byte-swapped: big-endian gguf files are not supported");
      }
      r.fail("unsupported gguf version ", version_, " (supported: 2, 3)");
    }
    std::uint64_t const n_tensors = r.read<std::uint64_t>("tensor count");
    std::uint64_t const n_kv = r.read<std::uint64_t>("metadata count");
    // Each key/value needs at least 8 (key length) + 4 (type) + 1 bytes; each tensor info 8+4+4+8.
    if (n_kv > r.remaining() / 13)
      r.fail("metadata count ", n_kv, " is impossible for the file size (truncated or corrupt)");
    if (n_tensors > r.remaining() / 24)
      r.fail("tensor count ", n_tensors, " is impossible for the file size (truncated or corrupt)");

    kv_.reserve(static_cast<std::size_t>(n_kv));
    for (std::uint64_t i = 0; i < n_kv; ++i) {
      std::size_t const at = r.offset();
      std::string key = read_gguf_string(r, str_cat("metadata key #", i));
      auto const type =
          static_cast<GgufType>(r.read<std::uint32_t>(str_cat("type of metadata '", key, "'")));
      GgufValue value = read_value(r, type, key, 0);
      if (!kv_index_.emplace(key, kv_.size()).second) {
        r.fail("metadata key '", key, "' at byte ", at, " appears twice");
      }
      kv_.emplace_back(std::move(key), std::move(value));
    }

    alignment_ = 32;
    if (GgufValue const* a = find("general.alignment")) {
      std::uint64_t const al = to_uint("general.alignment", *a);
      if (al == 0 || (al & (al - 1)) != 0 || al > (1u << 20)) {
        r.fail("general.alignment ", al, " is not a power of two in [1, 2^20]");
      }
      alignment_ = static_cast<std::size_t>(al);
    }

    tensors_.reserve(static_cast<std::size_t>(n_tensors));
    for (std::uint64_t i = 0; i < n_tensors; ++i) {
      std::size_t const at = r.offset();
      GgufTensorInfo t;
      t.name = read_gguf_string(r, str_cat("name of tensor #", i));
      std::string const field = str_cat("tensor '", t.name, "'");
      std::uint32_t const n_dims = r.read<std::uint32_t>(field);
      if (n_dims == 0 || n_dims > kMaxDims) {
        r.fail(field, " at byte ", at, ": ", n_dims, " dimensions (expected 1..", kMaxDims, ")");
      }
      t.n_elements = 1;
      for (std::uint32_t d = 0; d < n_dims; ++d) {
        std::uint64_t const dim = r.read<std::uint64_t>(field);
        if (dim == 0 || dim > (std::uint64_t{1} << 40) ||
            t.n_elements > (std::uint64_t{1} << 50) / dim) {
          r.fail(field, " at byte ", at, ": dimension ", d, " = ", dim,
                 " is invalid (zero or too large)");
        }
        t.dims.push_back(dim);
        t.n_elements *= dim;
      }
      std::uint32_t const type_id = r.read<std::uint32_t>(field);
      t.type = static_cast<GgmlType>(type_id);
      t.offset = r.read<std::uint64_t>(field);
      GgmlTypeInfo const info = ggml_type_info(t.type);
      if (info.block_size != 0) {
        if (t.dims[0] % info.block_size != 0) {
          r.fail(field, ": first dimension ", t.dims[0], " is not a multiple of the ", info.name,
                 " block size ", info.block_size);
        }
        t.n_bytes = t.n_elements / info.block_size * info.type_size;
      }
      if (t.offset % alignment_ != 0) {
        r.fail(field, ": data offset ", t.offset, " is not a multiple of the alignment ",
               alignment_);
      }
      if (!tensor_index_.emplace(t.name, tensors_.size()).second) {
        r.fail(field, " at byte ", at, " appears twice in the tensor table");
      }
      tensors_.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment.
    std::size_t const end_of_infos = r.offset();
    std::size_t const pad = (alignment_ - end_of_infos % alignment_) % alignment_;
    data_offset_ = end_of_infos + pad;
    std::size_t const size = file_.size();
    if (!tensors_.empty() && data_offset_ > size) {
      r.fail("data section starts at byte ", data_offset_, " > file size ", size, " (truncated?)");
    }
    for (GgufTensorInfo const& t : tensors_) {
      if (t.n_bytes == 0) continue;                         // unknown layout: checked when read
      std::uint64_t const begin = data_offset_ + t.offset;  // offsets < 2^64 - 2^50 never wrap here
      if (t.offset > size || begin > size || t.n_bytes > size - begin) {
        r.fail("tensor '", t.name, "' ends at byte ",
               t.offset > size ? std::string("(offset ") + std::to_string(t.offset) + ")"
                               : std::to_string(begin + t.n_bytes),
               " > file size ", size, " (truncated?)");
      }
    }
  }

  MappedFile file_;
  std::string where_;
  std::uint32_t version_ = 0;
  std::size_t alignment_ = 32;
  std::size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::unordered_map<std::string, std::size_t> kv_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> tensor_index_;
};

}  // namespace dfrot::io
