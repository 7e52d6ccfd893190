// SPDX-License-Identifier: Apache-2.0
// `dfrot hadamard`: for each size, the K·2^m factorization, the H_K construction, the round-trip
// error of Tᵀ·T·x in float64 and float32, and the float32 throughput of the row transform.
#include <chrono>
#include <cmath>
#include <vector>

#include "common/commands.hpp"
#include "common/report.hpp"
#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/checked_size.hpp"
#include "dfrot/core/rng.hpp"
#include "dfrot/hadamard/hadamard_transform.hpp"

namespace dfrot::app {

namespace {

// Every hidden / intermediate / head size of the model families dfrot targets (issue list).
std::vector<std::size_t> const kModelSizes = {64,   128,  576,   960,   1536,  2048,  2560, 3584,
                                              4096, 5120, 8192,  11008, 13824, 14336, 18944, 28672};

/// Largest timing batch (rows × size floats).
constexpr std::size_t kMaxBatchBytes = std::size_t{4} << 30;

template <class T>
double round_trip_error(hadamard::HadamardTransform const& t, std::uint64_t seed) {
  std::size_t const n = t.size();
  std::vector<T> x(n), y(n);
  Rng rng(seed);
  for (auto& v : x) v = static_cast<T>(rng.normal());
  y = x;
  t.apply(std::span<T>(y));
  t.apply(std::span<T>(y), hadamard::Transpose::kYes);
  double err = 0;
  for (std::size_t i = 0; i < n; ++i)
    err = std::max(err, std::abs(static_cast<double>(y[i]) - static_cast<double>(x[i])));
  return err;
}

}  // namespace

CommandAction add_hadamard_command(CLI::App& sub, CommonOptions& common) {
  auto sizes = std::make_shared<std::vector<std::size_t>>();
  auto rows = std::make_shared<std::size_t>(4096);
  auto block_fallback = std::make_shared<bool>(false);
  sub.add_option("sizes", *sizes, "transform sizes (default: every model size dfrot targets)")
      ->check(CLI::Range(std::size_t{1}, hadamard::HadamardTransform::kMaxSize));
  sub.add_option("--rows", *rows, "rows per timing batch")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 24))
      ->capture_default_str();
  sub.add_flag("--block-fallback", *block_fallback,
               "use a block-diagonal Hadamard for sizes that are not K·2^m");
  return [sizes, rows, block_fallback, &common]() {
    std::vector<std::size_t> const& list = sizes->empty() ? kModelSizes : *sizes;
    Report report({"n", "K", "m", "block", "construction", "roundtrip_err_f64",
                   "roundtrip_err_f32", "us_per_row", "GB_per_s"});
    report.set("rows_timed", *rows);
    report.set("threads", common.n_threads);
    for (std::size_t n : list) {
      hadamard::HadamardTransform const t(
          n, *block_fallback ? hadamard::Fallback::kBlockDiagonal : hadamard::Fallback::kNone);
      // (rows·n is checked: both come from the command line.)
      AlignedBuffer<float> data(checked_elements(checked_mul(*rows, n, "hadamard --rows x size"),
                                                 sizeof(float), kMaxBatchBytes, "hadamard batch"));
      Rng rng(common.seed);
      for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>(rng.normal());
      MatrixView<float> view(data.data(), *rows, n);
      t.apply_rows(view, hadamard::Transpose::kNo, common.n_threads);  // warm-up
      int const reps = 5;
      auto const start = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) t.apply_rows(view, hadamard::Transpose::kNo, common.n_threads);
      double const seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / reps;
      double const bytes = 2.0 * static_cast<double>(data.size()) * sizeof(float);
      report.add_row({n, t.k(), t.m(), t.block_size(),
                      t.k() > 1 ? std::string(hadamard::special_hadamard_construction(t.k()))
                                : std::string("Sylvester"),
                      round_trip_error<double>(t, common.seed), round_trip_error<float>(t, common.seed),
                      seconds * 1e6 / static_cast<double>(*rows), bytes / seconds * 1e-9});
    }
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
