// SPDX-License-Identifier: Apache-2.0
// Test helpers for the io tests: scratch directories, file writing, a tiny GGUF writer and a
// float -> binary16 converter (test-side, independent of the code under test).
#pragma once

#include <unistd.h>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace dfrot::test {

/// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  explicit TempDir(std::string const& tag) {
    static int counter = 0;
    // Memory-backed /dev/shm when available and TMPDIR is not set: the corruption tests write
    // thousands of small files.
    std::error_code ec;
    std::filesystem::path base =
        std::getenv("TMPDIR") == nullptr && std::filesystem::is_directory("/dev/shm", ec)
            ? std::filesystem::path("/dev/shm")
            : std::filesystem::temp_directory_path();
    path_ = base /
            ("dfrot_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(TempDir const&) = delete;
  TempDir& operator=(TempDir const&) = delete;
  std::filesystem::path const& path() const { return path_; }
  std::filesystem::path operator/(std::string const& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline std::vector<std::uint8_t> read_bytes(std::filesystem::path const& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void write_bytes(std::filesystem::path const& p, std::vector<std::uint8_t> const& bytes,
                        std::size_t n = static_cast<std::size_t>(-1)) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<char const*>(bytes.data()),
            static_cast<std::streamsize>(std::min(n, bytes.size())));
}

inline void write_text(std::filesystem::path const& p, std::string const& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Appends the little-endian bytes of a trivially copyable value.
template <class T>
void put(std::vector<std::uint8_t>& out, T value) {
  std::uint8_t b[sizeof(T)];
  std::memcpy(b, &value, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}

/// float -> IEEE binary16 with round-to-nearest-even (normal and subnormal range; overflow to inf).
inline std::uint16_t to_half(float f) {
  std::uint32_t const x = std::bit_cast<std::uint32_t>(f);
  std::uint16_t const sign = static_cast<std::uint16_t>((x >> 16) & 0x8000u);
  float const a = std::fabs(f);
  if (std::isnan(f)) return static_cast<std::uint16_t>(sign | 0x7e00u);
  if (a >= 65520.0f) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (a < 0x1p-14f) {  // subnormal: multiple of 2^-24
    auto const m = static_cast<std::uint32_t>(std::nearbyint(a * 0x1p24f));
    return static_cast<std::uint16_t>(sign | m);
  }
  int e = 0;
  float const frac = std::frexp(a, &e);  // a = frac * 2^e, frac in [0.5, 1)
  auto m =
      static_cast<std::uint32_t>(std::nearbyint(std::ldexp(frac, 11)));  // 11 bits incl. hidden
  if (m == 2048) {
    m = 1024;
    ++e;
  }
  std::uint32_t const exp = static_cast<std::uint32_t>(e - 1 + 15);
  return static_cast<std::uint16_t>(sign | (exp << 10) | (m & 0x3ffu));
}

/// Builds GGUF v3 files in memory (metadata + tensors), for tests only.
class GgufWriter {
 public:
  void add_raw(std::string const& key, std::uint32_t type,
               std::vector<std::uint8_t> const& payload) {
    put_string(kv_, key);
    put(kv_, type);
    kv_.insert(kv_.end(), payload.begin(), payload.end());
    ++n_kv_;
  }
  void add_u32(std::string const& key, std::uint32_t v) { add_raw(key, 4, bytes_of(v)); }
  void add_i32(std::string const& key, std::int32_t v) { add_raw(key, 5, bytes_of(v)); }
  void add_f32(std::string const& key, float v) { add_raw(key, 6, bytes_of(v)); }
  void add_bool(std::string const& key, bool v) { add_raw(key, 7, {static_cast<std::uint8_t>(v)}); }
  void add_string(std::string const& key, std::string const& v) {
    std::vector<std::uint8_t> p;
    put_string(p, v);
    add_raw(key, 8, p);
  }
  void add_string_array(std::string const& key, std::vector<std::string> const& v) {
    std::vector<std::uint8_t> p;
    put(p, std::uint32_t{8});
    put(p, static_cast<std::uint64_t>(v.size()));
    for (auto const& s : v) put_string(p, s);
    add_raw(key, 9, p);
  }
  void add_f32_array(std::string const& key, std::vector<float> const& v) {
    std::vector<std::uint8_t> p;
    put(p, std::uint32_t{6});
    put(p, static_cast<std::uint64_t>(v.size()));
    for (float f : v) put(p, f);
    add_raw(key, 9, p);
  }
  void add_i32_array(std::string const& key, std::vector<std::int32_t> const& v) {
    std::vector<std::uint8_t> p;
    put(p, std::uint32_t{5});
    put(p, static_cast<std::uint64_t>(v.size()));
    for (auto x : v) put(p, x);
    add_raw(key, 9, p);
  }
  /// dims in ggml order (dims[0] fastest); `data` already encoded in `type`.
  void add_tensor(std::string const& name, std::vector<std::uint64_t> dims, std::uint32_t type,
                  std::vector<std::uint8_t> data) {
    tensors_.push_back({name, std::move(dims), type, std::move(data)});
  }
  void add_f32_tensor(std::string const& name, std::vector<std::uint64_t> dims,
                      std::vector<float> const& values) {
    std::vector<std::uint8_t> data;
    for (float f : values) put(data, f);
    add_tensor(name, std::move(dims), 0, std::move(data));
  }

  std::vector<std::uint8_t> build(std::size_t alignment = 32, std::uint32_t version = 3) const {
    std::vector<std::uint8_t> out;
    put(out, std::uint32_t{0x46554747u});
    put(out, version);
    put(out, static_cast<std::uint64_t>(tensors_.size()));
    put(out, n_kv_);
    out.insert(out.end(), kv_.begin(), kv_.end());
    std::uint64_t offset = 0;
    std::vector<std::uint64_t> offsets;
    for (auto const& t : tensors_) {
      put_string(out, t.name);
      put(out, static_cast<std::uint32_t>(t.dims.size()));
      for (auto d : t.dims) put(out, d);
      put(out, t.type);
      put(out, offset);
      offsets.push_back(offset);
      offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    while (out.size() % alignment != 0) out.push_back(0);
    for (auto const& t : tensors_) {
      out.insert(out.end(), t.data.begin(), t.data.end());
      while (out.size() % alignment != 0) out.push_back(0);
    }
    return out;
  }

 private:
  struct T {
    std::string name;
    std::vector<std::uint64_t> dims;
    std::uint32_t type;
    std::vector<std::uint8_t> data;
  };
  template <class V>
  static std::vector<std::uint8_t> bytes_of(V v) {
    std::vector<std::uint8_t> p;
    put(p, v);
    return p;
  }
  static void put_string(std::vector<std::uint8_t>& out, std::string const& s) {
    put(out, static_cast<std::uint64_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
  std::vector<std::uint8_t> kv_;
  std::uint64_t n_kv_ = 0;
  std::vector<T> tensors_;
};

/// Deterministic pseudo-random floats in [-1, 1) (xorshift; independent of dfrot::Rng).
inline std::vector<float> test_values(std::size_t n, std::uint32_t seed) {
  std::vector<float> v(n);
  std::uint32_t s = seed * 2654435761u + 1u;
  for (auto& x : v) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    x = static_cast<float>(s >> 8) / static_cast<float>(1u << 23) - 1.0f;
  }
  return v;
}

/// A tiny llama GGUF: hidden 8, 1 layer, 2 heads, 1 KV head (head_dim 4), intermediate 16,
/// vocab 8, F32 weights, untied. `arch` sets general.architecture; `skip` drops one tensor.
inline GgufWriter tiny_llama_gguf(std::string const& arch = "llama", std::string const& skip = "",
                                  float poison = 0.0f, std::string const& poison_tensor = "") {
  GgufWriter w;
  w.add_string("general.architecture", arch);
  w.add_u32(arch + ".embedding_length", 8);
  w.add_u32(arch + ".block_count", 1);
  w.add_u32(arch + ".attention.head_count", 2);
  w.add_u32(arch + ".attention.head_count_kv", 1);
  w.add_u32(arch + ".feed_forward_length", 16);
  w.add_u32(arch + ".context_length", 32);
  w.add_f32(arch + ".rope.freq_base", 500000.0f);
  w.add_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-6f);
  struct Spec {
    char const* name;
    std::vector<std::uint64_t> dims;
  };
  std::vector<Spec> const specs = {
      {"token_embd.weight", {8, 8}},      {"output_norm.weight", {8}},
      {"output.weight", {8, 8}},          {"blk.0.attn_norm.weight", {8}},
      {"blk.0.attn_q.weight", {8, 8}},    {"blk.0.attn_k.weight", {8, 4}},
      {"blk.0.attn_v.weight", {8, 4}},    {"blk.0.attn_output.weight", {8, 8}},
      {"blk.0.ffn_norm.weight", {8}},     {"blk.0.ffn_gate.weight", {8, 16}},
      {"blk.0.ffn_down.weight", {16, 8}}, {"blk.0.ffn_up.weight", {8, 16}}};
  std::uint32_t seed = 1;
  for (auto const& s : specs) {
    if (skip == s.name) continue;
    std::size_t n = 1;
    for (auto d : s.dims) n *= d;
    std::vector<float> v = test_values(n, seed++);
    if (poison_tensor == s.name) v[n / 2] = poison;
    w.add_f32_tensor(s.name, s.dims, v);
  }
  return w;
}

}  // namespace dfrot::test
