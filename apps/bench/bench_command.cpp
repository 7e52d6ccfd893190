// SPDX-License-Identifier: Apache-2.0
// `dfrot bench -m MODEL [-m MODEL2 ...] [-p 512] [-n 128] [-r 5] [--json]`: llama-bench's figures.
// pp<P>: prefill of P fixed pseudo-random tokens into an empty cache; tg<N>: N single-token decode
// steps from an empty cache. One warm-up run each, then -r timed repetitions; the report gives the
// median tokens per second and the spread (min / max) per (model, test).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/commands.hpp"
#include "common/inference_model.hpp"
#include "common/peak_memory.hpp"
#include "common/report.hpp"
#include "common/stopwatch.hpp"
#include "dfrot/core/format.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/io/file_read.hpp"

namespace dfrot::app {

namespace {
struct BenchOptions {
  std::vector<std::string> models;
  std::string tokenizer;
  std::size_t n_prompt = 512;
  std::size_t n_gen = 128;
  int reps = 5;
};

/// Bytes of a model file, or of every file under a model directory.
std::uintmax_t model_bytes(std::string const& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    std::uintmax_t const n = fs::file_size(path, ec);
    return ec ? 0 : n;
  }
  std::uintmax_t total = 0;
  for (auto const& e : fs::recursive_directory_iterator(path, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

/// GGUF files and HF directories bring their own tokenizer; --tokenizer is for the others.
bool carries_tokenizer(std::string const& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return true;
  return io::starts_with_magic(path, "GGUF");
}

struct Spread {
  double median = 0, min = 0, max = 0;
};

Spread spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t const n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

double rounded(double x, double scale) { return std::round(x * scale) / scale; }

/// Read bandwidth of this machine in GB/s with `n_threads` (best of 5 sums over 1 GiB): the
/// baseline of the decode rows' weight bandwidth, measured in the same run.
double read_bandwidth_gb_s(int n_threads) {
  std::size_t const n = (std::size_t{1} << 30) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buf(n, 1);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::uint64_t> partial(64, 0);
    auto const t0 = std::chrono::steady_clock::now();
    parallel_for(n, n_threads, n / 64, [&](std::size_t b, std::size_t e) {
      std::uint64_t s = 0;
      for (std::size_t i = b; i < e; ++i) s += buf[i];
      partial[b * 64 / n] = s;
    });
    double const sec = seconds_since(t0);
    std::uint64_t total = 0;
    for (std::uint64_t v : partial) total += v;
    if (total != n) return 0;  // (keeps the sum alive)
    best = std::max(best, double(n * sizeof(std::uint64_t)) / sec / 1e9);
  }
  return best;
}

}  // namespace

CommandAction add_bench_command(CLI::App& sub, CommonOptions& common) {
  auto o = std::make_shared<BenchOptions>();
  sub.add_option("-m,--model", o->models, "model(s) to benchmark (repeat -m for several)")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  sub.add_option("--tokenizer", o->tokenizer,
                 "tokenizer for the models that carry none (llama2.c .bin: tokenizer.bin)");
  sub.add_option("-p,--n-prompt", o->n_prompt, "prompt tokens of the prefill test (0 = skip)")
      ->check(CLI::Range(std::size_t{0}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("-n,--n-gen", o->n_gen, "tokens of the decode test (0 = skip)")
      ->check(CLI::Range(std::size_t{0}, model::kMaxPositions))
      ->capture_default_str();
  sub.add_option("-r,--repetitions", o->reps, "timed repetitions per test (after one warm-up)")
      ->capture_default_str();
  return [o, &common]() {
    DFROT_THROW_IF(o->reps < 1, UsageError, "-r ", o->reps, ": at least one repetition");
    DFROT_THROW_IF(o->n_prompt == 0 && o->n_gen == 0, UsageError,
                   "-p 0 and -n 0: nothing to benchmark");
    int const threads = resolve_threads(common.n_threads);
    Report report({"model", "size_MB", "load_s", "engine", "test", "threads", "tok_s", "min", "max",
                   "weights_GB_s", "of_read_bw", "peak_rss_MB"});
    double const read_bw = read_bandwidth_gb_s(common.n_threads);
    reset_peak_rss();  // the 1 GiB buffer is not the models' memory
    std::fprintf(stderr, "read bandwidth: %.1f GB/s (%d threads, 1 GiB sum)\n", read_bw, threads);
    report.set("read_GB_s", rounded(read_bw, 100));
    report.set("repetitions", o->reps);
    report.set("seed", common.seed);
    for (std::size_t mi = 0; mi < o->models.size(); ++mi) {
      std::string const& path = o->models[mi];
      auto const t0 = std::chrono::steady_clock::now();
      InferenceModel m = load_inference_model(path, carries_tokenizer(path) ? "" : o->tokenizer,
                                              std::max<std::size_t>({o->n_prompt, o->n_gen, 1}),
                                              common.n_threads);
      double const load_s = seconds_since(t0);
      double const size_mb = static_cast<double>(model_bytes(path)) / 1e6;
      model::LlamaModel const& lm = *m.loaded.model;
      std::fprintf(stderr, "model %zu/%zu: %s (%s), engine %s, %.1f MB, loaded in %.2f s\n",
                   mi + 1, o->models.size(), path.c_str(), model::describe(lm.config()).c_str(),
                   m.engine.c_str(), size_mb, load_s);
      // Fixed pseudo-random ids (the same for every model with the same vocabulary and seed).
      std::mt19937_64 rng(common.seed);
      std::uniform_int_distribution<int> pick(0, static_cast<int>(lm.config().vocab) - 1);
      std::vector<int> ids(std::max(o->n_prompt, o->n_gen));
      for (int& id : ids) id = pick(rng);
      model::ForwardWorkspace workspace;  // as dfrot run: decode reuses the layer buffers
      model::ForwardOptions const fopt{.n_threads = common.n_threads, .workspace = &workspace};
      auto const run_test = [&](std::string const& name, std::size_t n, auto&& once) {
        std::vector<double> rates;
        for (int rep = 0; rep <= o->reps; ++rep) {  // rep 0 = warm-up
          model::KvCache cache = lm.make_cache();      // empty, allocated outside the timing
          auto const s0 = std::chrono::steady_clock::now();
          once(cache);
          double const s = seconds_since(s0);
          std::string note = "warm-up";
          if (rep > 0) {
            rates.push_back(static_cast<double>(n) / s);
            note = str_cat("run ", rep, "/", o->reps, ": ", static_cast<long>(rates.back()),
                           " tok/s");
          }
          std::fprintf(stderr, "\r  %s: %s        ", name.c_str(), note.c_str());
          std::fflush(stderr);
        }
        Spread const r = spread(rates);
        std::fprintf(stderr, "\r  %s: median %.1f tok/s (min %.1f, max %.1f)          \n",
                     name.c_str(), r.median, r.min, r.max);
        // Decode rows: the packed weight bytes streamed per token, against the read bandwidth.
        bool const decode = name.rfind("tg", 0) == 0 && m.decode_weight_bytes != 0;
        double const weights_gb_s = double(m.decode_weight_bytes) * r.median / 1e9;
        report.add_row({path, rounded(size_mb, 100), rounded(load_s, 1000), m.engine, name, threads,
                        rounded(r.median, 100), rounded(r.min, 100), rounded(r.max, 100),
                        decode ? nlohmann::json(rounded(weights_gb_s, 100)) : nlohmann::json(),
                        decode && read_bw > 0 ? nlohmann::json(rounded(weights_gb_s / read_bw, 1000)) : nlohmann::json(),
                        rounded(double(peak_rss_bytes()) / 1e6, 10)});
      };
      if (o->n_prompt > 0) {
        std::span<int const> const prompt(ids.data(), o->n_prompt);
        run_test(str_cat("pp", o->n_prompt), o->n_prompt, [&](model::KvCache& cache) {
          (void)lm.forward_last_into(prompt, cache, m.hooks.get(), fopt, workspace);  // last token's logits, as llama-bench
        });
      }
      if (o->n_gen > 0) {
        run_test(str_cat("tg", o->n_gen), o->n_gen, [&](model::KvCache& cache) {
          for (std::size_t i = 0; i < o->n_gen; ++i)
            (void)lm.forward_last_into(std::span<int const>(&ids[i], 1), cache, m.hooks.get(), fopt, workspace);
        });
      }
    }
    report.print(common.json);
    return 0;
  };
}

}  // namespace dfrot::app
