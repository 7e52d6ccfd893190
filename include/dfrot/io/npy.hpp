// SPDX-License-Identifier: Apache-2.0
// NumPy .npy files: read format versions 1.0/2.0/3.0 ('<f8' / '<f4', C or Fortran order) into
// float64, write version 1.0 float64 C order. Used for learned rotations (DFRot's R1 .npy,
// SpinQuant-style per-layer R2 stacks).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/error.hpp"
#include "dfrot/io/atomic_file.hpp"
#include "dfrot/io/byte_reader.hpp"
#include "dfrot/io/mapped_file.hpp"

namespace dfrot::io {

/// An n-dimensional array from a .npy file, converted to float64, row-major (C order) whatever
/// the file's order. `shape` is empty for a 0-d (scalar) array, which holds one value.
struct NpyArray {
  std::vector<std::size_t> shape;
  std::vector<double> data;

  /// Product of the dimensions (1 for a scalar).
  std::size_t numel() const noexcept {
    std::size_t n = 1;
    for (std::size_t s : shape) n *= s;
    return n;
  }
};

namespace detail {

/// The 6-byte magic string of every .npy file.
inline constexpr std::string_view kNpyMagic{"\x93NUMPY", 6};

/// "(3, 4)" / "(5,)" / "()": the shape as Python writes a tuple.
inline std::string npy_shape_repr(std::span<std::size_t const> shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

/// A minimal parser of the header dict: {'descr': str, 'fortran_order': bool, 'shape': tuple of
/// ints}, in any key order, single or double quotes, optional trailing commas. Anything else (other
/// keys, nested dtypes, expressions) is a FormatError: numpy itself writes exactly these three keys.
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  void parse(std::string& descr, bool& fortran_order, std::vector<std::size_t>& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    expect('{', "the header dict must start with '{'");
    skip_ws();
    while (peek() != '}') {
      std::string const key = parse_string("a dict key");
      skip_ws();
      expect(':', str_cat("':' after key '", key, "'"));
      skip_ws();
      if (key == "descr") {
        DFROT_THROW_IF(have_descr, FormatError, where_, ": header: duplicate key 'descr'");
        descr = parse_string("the 'descr' value");
        have_descr = true;
      } else if (key == "fortran_order") {
        DFROT_THROW_IF(have_order, FormatError, where_, ": header: duplicate key 'fortran_order'");
        fortran_order = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        DFROT_THROW_IF(have_shape, FormatError, where_, ": header: duplicate key 'shape'");
        shape = parse_shape();
        have_shape = true;
      } else {
        fail(str_cat("unexpected key '", key, "' (expected descr, fortran_order, shape)"));
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}' after a value");
      }
    }
    ++pos_;  // '}'
    skip_ws();
    DFROT_THROW_IF(pos_ != text_.size(), FormatError, where_,
                   ": header: unexpected text after the dict at character ", pos_);
    DFROT_THROW_IF(!have_descr || !have_order || !have_shape, FormatError, where_,
                   ": header: missing key(s):", have_descr ? "" : " 'descr'",
                   have_order ? "" : " 'fortran_order'", have_shape ? "" : " 'shape'");
  }

 private:
  [[noreturn]] void fail(std::string const& what) const {
    throw FormatError(str_cat(where_, ": malformed header dict at character ", pos_, ": ", what,
                              " in \"", text_, "\""));
  }
  char peek() const {
    if (pos_ >= text_.size()) fail("unexpected end of header");
    return text_[pos_];
  }
  void expect(char c, std::string const& what) {
    if (peek() != c) fail(str_cat("expected ", what));
    ++pos_;
  }
  void skip_ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  std::string parse_string(std::string_view what) {
    char const q = peek();
    if (q != '\'' && q != '"') fail(str_cat("expected a quoted string for ", what));
    ++pos_;
    std::size_t const end = text_.find(q, pos_);
    if (end == std::string_view::npos) fail(str_cat("unterminated string for ", what));
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  bool parse_bool() {
    if (text_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (text_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("expected True or False for 'fortran_order'");
  }
  std::vector<std::size_t> parse_shape() {
    std::vector<std::size_t> shape;
    expect('(', "a tuple '(...)' for 'shape'");
    skip_ws();
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') fail("expected a non-negative integer in 'shape'");
      std::size_t v = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        std::size_t const digit = static_cast<std::size_t>(text_[pos_] - '0');
        if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10) {
          fail("dimension in 'shape' overflows");
        }
        v = v * 10 + digit;
        ++pos_;
      }
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2 longs
      shape.push_back(v);
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != ')') {
        fail("expected ',' or ')' in 'shape'");
      }
    }
    ++pos_;
    return shape;
  }

  std::string_view text_;
  std::string_view where_;
  std::size_t pos_ = 0;
};

/// Element size of a supported descr; throws FormatError naming the dtype otherwise.
inline std::size_t npy_element_size(std::string const& descr, std::string_view where) {
  if (descr == "<f8") return 8;
  if (descr == "<f4") return 4;
  std::string why = "unsupported";
  if (!descr.empty() && descr[0] == '>') {
    why = "big-endian";
  } else if (descr.size() >= 2 && (descr[1] == 'i' || descr[1] == 'u' || descr[1] == 'b')) {
    why = "integer/bool";
  } else if (descr.size() >= 2 && descr[1] == 'c') {
    why = "complex";
  } else if (descr.size() >= 2 && descr[1] == 'f') {
    why = "float width";
  }
  throw FormatError(str_cat(where, ": unsupported dtype '", descr, "' (", why,
                            "); expected little-endian float64 '<f8' or float32 '<f4'"));
}

/// Throws NumericError when any value is NaN or ±Inf (a rotation must be finite).
inline void require_finite(std::span<double const> v, std::string_view where) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    DFROT_THROW_IF(!std::isfinite(v[i]), NumericError, where, ": element ", i, " is ", v[i],
                   " (rotation matrices must be finite)");
  }
}

}  // namespace detail

/// Parses a whole .npy file image. `where` names it in errors (e.g. "npy 'r1.npy'").
/// \throws FormatError for a bad magic, an unknown version, a truncated header or data section,
///         trailing bytes, a malformed header dict or an unsupported dtype (big-endian, integer,
///         complex, anything but '<f8'/'<f4').
inline NpyArray parse_npy(std::span<std::byte const> bytes, std::string const& where) {
  ByteReader r(bytes, where);
  std::string const magic = r.read_string(detail::kNpyMagic.size(), "magic");
  DFROT_THROW_IF(magic != detail::kNpyMagic, FormatError, where,
                 ": bad magic (not a .npy file): expected \\x93NUMPY");
  auto const major = r.read<std::uint8_t>("major version");
  auto const minor = r.read<std::uint8_t>("minor version");
  DFROT_THROW_IF(major < 1 || major > 3 || minor != 0, FormatError, where,
                 ": unsupported .npy format version ", int(major), ".", int(minor),
                 " (expected 1.0, 2.0 or 3.0)");
  std::size_t const header_len = major == 1 ? r.read<std::uint16_t>("header length")
                                            : std::size_t{r.read<std::uint32_t>("header length")};
  std::string const header = r.read_string(header_len, "header");
  NpyArray out;
  std::string descr;
  bool fortran_order = false;
  detail::NpyHeaderParser(header, where).parse(descr, fortran_order, out.shape);
  std::size_t const elem = detail::npy_element_size(descr, where);
  std::size_t n = 1;
  for (std::size_t s : out.shape) {
    DFROT_THROW_IF(s != 0 && n > std::numeric_limits<std::size_t>::max() / s / elem, FormatError,
                   where, ": shape ", detail::npy_shape_repr(out.shape), " overflows");
    n *= s;
  }
  std::size_t const data_bytes = n * elem;
  DFROT_THROW_IF(r.remaining() < data_bytes, FormatError, where, ": data of shape ",
                 detail::npy_shape_repr(out.shape), " ", descr, " needs ", data_bytes,
                 " bytes after the header but only ", r.remaining(), " remain (truncated?)");
  DFROT_THROW_IF(r.remaining() > data_bytes, FormatError, where, ": ",
                 r.remaining() - data_bytes, " unexpected trailing bytes after the ", data_bytes,
                 "-byte data section of shape ", detail::npy_shape_repr(out.shape));
  std::byte const* src = r.read_bytes(data_bytes, "data").data();
  std::vector<double> raw(n);
  if (elem == 8) {
    if (data_bytes != 0) std::memcpy(raw.data(), src, data_bytes);  // (an empty shape: no data)
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, src + i * 4, 4);
      raw[i] = static_cast<double>(f);
    }
  }
  if (!fortran_order || out.shape.size() <= 1) {
    out.data = std::move(raw);
    return out;
  }
  // Fortran order: the first index varies fastest. Walk the C-order destination index and keep
  // the matching Fortran offset with strides f[k] = prod(shape[0..k)).
  std::size_t const nd = out.shape.size();
  std::vector<std::size_t> fstride(nd, 1);
  for (std::size_t k = 1; k < nd; ++k) fstride[k] = fstride[k - 1] * out.shape[k - 1];
  out.data.resize(n);
  std::vector<std::size_t> idx(nd, 0);
  std::size_t foff = 0;
  for (std::size_t i = 0; i < n; ++i) {
    out.data[i] = raw[foff];
    for (std::size_t k = nd; k-- > 0;) {  // increment the C-order multi-index, last dim fastest
      ++idx[k];
      foff += fstride[k];
      if (idx[k] < out.shape[k]) break;
      foff -= idx[k] * fstride[k];
      idx[k] = 0;
    }
  }
  return out;
}

/// Reads a .npy file (versions 1.0/2.0/3.0, '<f8' or '<f4', C or Fortran order) into float64
/// C order. Values are returned as stored (NaN/Inf allowed; the matrix readers reject them).
/// \throws IoError when the file cannot be read, FormatError as parse_npy.
inline NpyArray read_npy(std::filesystem::path const& path) {
  MappedFile const file(path);
  return parse_npy(file.bytes(), str_cat("npy '", path.string(), "'"));
}

/// The bytes of a version-1.0 .npy file holding float64 `data` of `shape` in C order. The header
/// is numpy's own: "{'descr': '<f8', 'fortran_order': False, 'shape': (…), }", space-padded and
/// '\n'-terminated so that magic + version + length + header is a multiple of 64 bytes.
/// \throws ShapeError when data.size() is not the product of `shape`.
inline std::vector<std::byte> encode_npy(std::span<std::size_t const> shape,
                                         std::span<double const> data) {
  std::size_t n = 1;
  for (std::size_t s : shape) n *= s;
  DFROT_THROW_IF(n != data.size(), ShapeError, "encode_npy: shape ",
                 detail::npy_shape_repr(shape), " has ", n, " elements but ", data.size(),
                 " values were given");
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': " +
                       detail::npy_shape_repr(shape) + ", }";
  std::size_t const prefix = detail::kNpyMagic.size() + 2 + 2;
  // numpy's rule: pad = 64 − (prefix + len + 1) mod 64 spaces, then '\n' (so pad is 1 … 64).
  std::size_t const pad = 64 - (prefix + header.size() + 1) % 64;
  header.append(pad, ' ');
  header += '\n';
  DFROT_THROW_IF(header.size() > 0xFFFF, ShapeError, "encode_npy: ", shape.size(),
                 "-d header does not fit a version-1.0 file");
  auto const hl = static_cast<std::uint16_t>(header.size());
  std::string bytes(detail::kNpyMagic);
  bytes += '\x01';  // version 1.0
  bytes += '\x00';
  bytes += static_cast<char>(hl & 0xFF);  // header length, little-endian
  bytes += static_cast<char>(hl >> 8);
  bytes += header;
  std::size_t const data_begin = bytes.size();
  bytes.resize(data_begin + data.size() * sizeof(double));
  if (!data.empty()) std::memcpy(bytes.data() + data_begin, data.data(), data.size() * sizeof(double));
  std::vector<std::byte> out(bytes.size());
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

/// Writes float64 `data` of `shape` (C order) as a version-1.0 .npy file (see encode_npy).
/// \throws ShapeError for a size mismatch, IoError when the file cannot be written.
inline void write_npy(std::filesystem::path const& path, std::span<std::size_t const> shape,
                      std::span<double const> data) {
  std::vector<std::byte> const bytes = encode_npy(shape, data);
  AtomicOutputFile file(path, "npy");  // never a half-written rotation
  file.stream().write(reinterpret_cast<char const*>(bytes.data()),
                      static_cast<std::streamsize>(bytes.size()));
  file.commit();
}

/// A 2-D float64 matrix from a .npy file, e.g. DFRot's R1 (`np.save` of a d×d float64 array).
/// `expected_rows` / `expected_cols` of 0 accept any size.
/// \throws as read_npy; ShapeError when the array is not 2-D or has another size; NumericError
///         when it contains NaN or Inf.
inline Eigen::MatrixXd read_npy_matrix(std::filesystem::path const& path,
                                       std::size_t expected_rows = 0,
                                       std::size_t expected_cols = 0) {
  std::string const where = str_cat("npy '", path.string(), "'");
  NpyArray const a = read_npy(path);
  DFROT_THROW_IF(a.shape.size() != 2, ShapeError, where, ": expected a 2-D matrix but the shape is ",
                 detail::npy_shape_repr(a.shape));
  auto const dim = [](std::size_t v) { return v == 0 ? std::string("any") : std::to_string(v); };
  DFROT_THROW_IF((expected_rows != 0 && a.shape[0] != expected_rows) ||
                     (expected_cols != 0 && a.shape[1] != expected_cols),
                 ShapeError, where, ": expected shape (", dim(expected_rows), ", ",
                 dim(expected_cols), ") but the file has ", detail::npy_shape_repr(a.shape));
  detail::require_finite(a.data, where);
  auto const rows = static_cast<Eigen::Index>(a.shape[0]);
  auto const cols = static_cast<Eigen::Index>(a.shape[1]);
  return Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const>(
      a.data.data(), rows, cols);
}

/// Writes `m` as a 2-D float64 C-order .npy file (np.load gives back the same matrix).
inline void write_npy_matrix(std::filesystem::path const& path, Eigen::MatrixXd const& m) {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const rm = m;
  std::size_t const shape[2] = {static_cast<std::size_t>(m.rows()),
                                static_cast<std::size_t>(m.cols())};
  write_npy(path, shape, std::span<double const>(rm.data(), static_cast<std::size_t>(rm.size())));
}

/// A stack of square matrices from one 3-D .npy file of shape [n, k, k]: our format for a
/// SpinQuant-style per-layer R2 set (n = layers, k = head dim; element [l, i, j] is R2 of layer l
/// at row i, column j; float64 C order as `np.save(path, np.stack(r2s))` writes it; '<f4' and
/// Fortran order are read too). `expected_count` / `expected_size` of 0 accept any n / k.
/// \throws as read_npy; ShapeError when the array is not 3-D, its matrices are not square or the
///         sizes differ from the expected ones; NumericError for NaN/Inf.
inline std::vector<Eigen::MatrixXd> read_npy_stack(std::filesystem::path const& path,
                                                   std::size_t expected_count = 0,
                                                   std::size_t expected_size = 0) {
  std::string const where = str_cat("npy '", path.string(), "'");
  NpyArray const a = read_npy(path);
  DFROT_THROW_IF(a.shape.size() != 3, ShapeError, where,
                 ": expected a 3-D stack [n_layers, k, k] but the shape is ",
                 detail::npy_shape_repr(a.shape));
  DFROT_THROW_IF(a.shape[1] != a.shape[2], ShapeError, where,
                 ": stacked matrices must be square but the shape is ",
                 detail::npy_shape_repr(a.shape));
  DFROT_THROW_IF(expected_count != 0 && a.shape[0] != expected_count, ShapeError, where,
                 ": expected ", expected_count, " matrices but the file has ", a.shape[0]);
  DFROT_THROW_IF(expected_size != 0 && a.shape[1] != expected_size, ShapeError, where,
                 ": expected ", expected_size, "x", expected_size,
                 " matrices but the file has ", a.shape[1], "x", a.shape[2]);
  detail::require_finite(a.data, where);
  auto const k = static_cast<Eigen::Index>(a.shape[1]);
  std::size_t const per = a.shape[1] * a.shape[2];
  std::vector<Eigen::MatrixXd> out;
  out.reserve(a.shape[0]);
  for (std::size_t l = 0; l < a.shape[0]; ++l) {
    out.emplace_back(
        Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> const>(
            a.data.data() + l * per, k, k));
  }
  return out;
}

/// Writes square matrices of one size as a [n, k, k] float64 .npy stack (see read_npy_stack).
/// \throws ShapeError when the stack is empty or the matrices are not all k×k.
inline void write_npy_stack(std::filesystem::path const& path,
                            std::vector<Eigen::MatrixXd> const& stack) {
  DFROT_THROW_IF(stack.empty(), ShapeError, "write_npy_stack '", path.string(),
                 "': empty stack (the matrix size would be unknown)");
  auto const k = stack[0].rows();
  std::vector<double> data;
  data.reserve(stack.size() * static_cast<std::size_t>(k * k));
  for (std::size_t l = 0; l < stack.size(); ++l) {
    DFROT_THROW_IF(stack[l].rows() != k || stack[l].cols() != k, ShapeError, "write_npy_stack '",
                   path.string(), "': matrix ", l, " is ", stack[l].rows(), "x", stack[l].cols(),
                   " but matrix 0 is ", k, "x", k);
    for (Eigen::Index i = 0; i < k; ++i) {
      for (Eigen::Index j = 0; j < k; ++j) data.push_back(stack[l](i, j));
    }
  }
  std::size_t const shape[3] = {stack.size(), static_cast<std::size_t>(k),
                                static_cast<std::size_t>(k)};
  write_npy(path, shape, data);
}

}  // namespace dfrot::io
