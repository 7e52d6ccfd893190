// SPDX-License-Identifier: Apache-2.0
#include "support/baselines.hpp"
#include "support/bench_util.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include <Eigen/Core>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "dfrot/core/aligned_buffer.hpp"

namespace dfrot::bench {

namespace {

using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// XOR of every 64-bit word of [p, p + bytes) (the tail bytes folded in one by one).
std::uint64_t read_all(unsigned char const* p, std::size_t bytes) {
  std::size_t i = 0;
  std::uint64_t r = 0;
#if defined(__AVX2__)
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (; i + 128 <= bytes; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256(reinterpret_cast<__m256i const*>(p + i + 96)));
  }
  __m256i const a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  alignas(32) std::uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), a);
  r = lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
#endif
  for (; i + 8 <= bytes; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    r ^= v;
  }
  for (; i < bytes; ++i) r ^= p[i];
  return r;
}

}  // namespace

double median_seconds(std::function<void()> const& fn, int reps) {
  fn();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto const start = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[static_cast<std::size_t>(reps / 2)];
}

double median_seconds_per_call(std::function<void()> const& fn, double min_sample_seconds,
                               int reps) {
  fn();  // warm-up (caches, page faults)
  auto const start = std::chrono::steady_clock::now();
  fn();
  double const once = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int const inner = once >= min_sample_seconds
                        ? 1
                        : static_cast<int>(std::ceil(min_sample_seconds / std::max(once, 1e-9)));
  double const per_sample = median_seconds(
      [&] {
        for (int i = 0; i < inner; ++i) fn();
      },
      reps);
  return per_sample / inner;
}

double memcpy_seconds(std::size_t bytes) {
  static std::map<std::size_t, double> cache;
  if (auto it = cache.find(bytes); it != cache.end()) return it->second;
  AlignedBuffer<unsigned char> src(bytes), dst(bytes);
  std::memset(src.data(), 1, bytes);
  double const s = median_seconds([&] { std::memcpy(dst.data(), src.data(), bytes); });
  cache[bytes] = s;
  return s;
}

double read_seconds(std::size_t bytes) {
  static std::map<std::size_t, double> cache;
  if (auto it = cache.find(bytes); it != cache.end()) return it->second;
  AlignedBuffer<unsigned char> buf(bytes);
  for (std::size_t i = 0; i < bytes; ++i) buf[i] = static_cast<unsigned char>(i * 131u + 7u);
  double const s = median_seconds_per_call([&] {
    std::uint64_t r = read_all(buf.data(), bytes);
    benchmark::DoNotOptimize(r);
  });
  cache[bytes] = s;
  return s;
}

double eigen_sgemm_gflops(std::size_t m, std::size_t n, std::size_t k, int threads) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, int>, double> cache;
  auto const key = std::make_tuple(m, n, k, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ScopedEigenThreads const scope(threads);
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(Eigen::Index(m), Eigen::Index(k));
  Eigen::MatrixXf b = Eigen::MatrixXf::Random(Eigen::Index(k), Eigen::Index(n));
  Eigen::MatrixXf c(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
  double const s = median_seconds([&] { c.noalias() = a * b; }, 5);
  double const gflops = 2.0 * double(m) * double(n) * double(k) / s * 1e-9;
  cache[key] = gflops;
  return gflops;
}

double eigen_sgemm_xwt_seconds(std::size_t m, std::size_t n, std::size_t k, int threads) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, int>, double> cache;
  auto const key = std::make_tuple(m, n, k, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ScopedEigenThreads const scope(threads);
  RowMatrixXf const x = RowMatrixXf::Random(Eigen::Index(m), Eigen::Index(k));
  RowMatrixXf const w = RowMatrixXf::Random(Eigen::Index(n), Eigen::Index(k));
  RowMatrixXf y(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
  double const s = median_seconds_per_call(
      [&] {
        y.noalias() = x * w.transpose();
        benchmark::DoNotOptimize(y.data());
      },
      0.02, 5);
  cache[key] = s;
  return s;
}

double eigen_gemv_seconds(std::size_t n, std::size_t k, int threads) {
  static std::map<std::tuple<std::size_t, std::size_t, int>, double> cache;
  auto const key = std::make_tuple(n, k, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ScopedEigenThreads const scope(threads);
  RowMatrixXf const w = RowMatrixXf::Random(Eigen::Index(n), Eigen::Index(k));
  Eigen::VectorXf const x = Eigen::VectorXf::Random(Eigen::Index(k));
  Eigen::VectorXf y(static_cast<Eigen::Index>(n));
  double const s = median_seconds_per_call(
      [&] {
        y.noalias() = w * x;
        benchmark::DoNotOptimize(y.data());
      },
      0.02, 5);
  cache[key] = s;
  return s;
}

}  // namespace dfrot::bench
