// SPDX-License-Identifier: Apache-2.0
#include "support/baselines.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <tuple>
#include <vector>

#include <Eigen/Core>

#include "dfrot/core/aligned_buffer.hpp"

namespace dfrot::bench {

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

double memcpy_seconds(std::size_t bytes) {
  static std::map<std::size_t, double> cache;
  if (auto it = cache.find(bytes); it != cache.end()) return it->second;
  AlignedBuffer<unsigned char> src(bytes), dst(bytes);
  std::memset(src.data(), 1, bytes);
  double const s = median_seconds([&] { std::memcpy(dst.data(), src.data(), bytes); });
  cache[bytes] = s;
  return s;
}

double eigen_sgemm_gflops(std::size_t m, std::size_t n, std::size_t k, int threads) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t, int>, double> cache;
  auto const key = std::make_tuple(m, n, k, threads);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  int const previous = Eigen::nbThreads();
  Eigen::setNbThreads(threads);
  Eigen::MatrixXf a = Eigen::MatrixXf::Random(Eigen::Index(m), Eigen::Index(k));
  Eigen::MatrixXf b = Eigen::MatrixXf::Random(Eigen::Index(k), Eigen::Index(n));
  Eigen::MatrixXf c(static_cast<Eigen::Index>(m), static_cast<Eigen::Index>(n));
  double const s = median_seconds([&] { c.noalias() = a * b; }, 5);
  double const gflops = 2.0 * double(m) * double(n) * double(k) / s * 1e-9;
  Eigen::setNbThreads(previous);
  cache[key] = gflops;
  return gflops;
}

}  // namespace dfrot::bench
