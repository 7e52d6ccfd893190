// SPDX-License-Identifier: Apache-2.0
#include "support/onednn_baseline.hpp"

#if defined(DFROT_BENCH_HAVE_DNNL)
#include <omp.h>

#include <cstdint>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "dfrot/core/rng.hpp"
#include "support/baselines.hpp"
#endif

namespace dfrot::bench {

#if defined(DFROT_BENCH_HAVE_DNNL)

namespace {

/// Caps OpenMP (oneDNN's threading runtime in the Debian build) at one thread for a scope.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }
  ScopedOmpThreads(ScopedOmpThreads const&) = delete;
  ScopedOmpThreads& operator=(ScopedOmpThreads const&) = delete;

 private:
  int previous_;
};

char const* isa_name(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "other";
  }
}

}  // namespace

std::optional<double> onednn_int8_matmul_seconds(std::size_t m, std::size_t n, std::size_t k) {
  static std::map<std::tuple<std::size_t, std::size_t, std::size_t>, double> cache;
  auto const key = std::make_tuple(m, n, k);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  ScopedOmpThreads const one_thread(1);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  auto const dm = static_cast<dnnl::memory::dim>(m);
  auto const dn = static_cast<dnnl::memory::dim>(n);
  auto const dk = static_cast<dnnl::memory::dim>(k);
  dnnl::engine const eng(dnnl::engine::kind::cpu, 0);
  dnnl::stream strm(eng);
  dnnl::memory::desc const src_md({dm, dk}, dt::u8, tag::ab);
  dnnl::memory::desc const wei_any({dk, dn}, dt::s8, tag::any);
  dnnl::memory::desc const wei_user({dk, dn}, dt::s8, tag::ba);  // [n × k] row-major
  dnnl::memory::desc const dst_md({dm, dn}, dt::f32, tag::ab);
  Rng rng(7);
  std::vector<float> scales(n);
  for (auto& s : scales) s = static_cast<float>(0.001 + 0.01 * rng.uniform());
  dnnl::primitive_attr attr;
  attr.set_output_scales(1 << 1, scales);  // per output column (weight channel)
  dnnl::matmul::primitive_desc const pd(dnnl::matmul::desc(src_md, wei_any, dst_md), attr, eng);
  dnnl::matmul const prim(pd);

  dnnl::memory src(src_md, eng), wei_plain(wei_user, eng), wei(pd.weights_desc(), eng),
      dst(dst_md, eng);
  auto* a = static_cast<std::uint8_t*>(src.get_data_handle());
  for (std::size_t i = 0; i < m * k; ++i) a[i] = static_cast<std::uint8_t>(rng.next_u64() % 16);
  auto* b = static_cast<std::int8_t*>(wei_plain.get_data_handle());
  for (std::size_t i = 0; i < n * k; ++i) b[i] = static_cast<std::int8_t>(static_cast<int>(rng.next_u64() % 16) - 8);
  dnnl::reorder(wei_plain, wei).execute(strm, wei_plain, wei);
  strm.wait();

  std::unordered_map<int, dnnl::memory> const args{
      {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}};
  double const s = median_seconds_per_call(
      [&] {
        prim.execute(strm, args);
        strm.wait();
        benchmark::DoNotOptimize(dst.get_data_handle());
      },
      0.02, 5);
  cache[key] = s;
  return s;
}

std::string onednn_description() {
  dnnl_version_t const* v = dnnl_version();
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" + isa_name(dnnl::get_effective_cpu_isa()) + ")";
}

#else

std::optional<double> onednn_int8_matmul_seconds(std::size_t, std::size_t, std::size_t) {
  return std::nullopt;
}

std::string onednn_description() { return {}; }

#endif

}  // namespace dfrot::bench
