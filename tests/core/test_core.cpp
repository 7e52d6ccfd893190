// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "dfrot/core/aligned_buffer.hpp"
#include "dfrot/core/checked_size.hpp"
#include "dfrot/core/dispatch.hpp"
#include "dfrot/core/error.hpp"
#include "dfrot/core/isa.hpp"
#include "dfrot/core/matrix_view.hpp"
#include "dfrot/core/parallel.hpp"
#include "dfrot/core/rng.hpp"

using namespace dfrot;

TEST_SUITE("core") {
  TEST_CASE("isa: parse, names and ScopedIsa restore the previous level") {
    CHECK(parse_isa("avx2") == Isa::kAvx2);
    CHECK(to_string(Isa::kAvx512Vnni) == "avx512vnni");
    CHECK(parse_isa("amx") == Isa::kAmx);
    CHECK(Isa::kAmx > Isa::kAvx512Vnni);  // AMX machines run every lower level too
    CHECK_THROWS_WITH_AS(parse_isa("sse9"), doctest::Contains("isa 'sse9'"), UsageError);
    Isa const before = active_isa();
    {
      ScopedIsa scalar(Isa::kScalar);
      CHECK(active_isa() == Isa::kScalar);
      {
        ScopedIsa avx2(Isa::kAvx2);
        CHECK(active_isa() <= Isa::kAvx2);  // never above what the CPU has
      }
      CHECK(active_isa() == Isa::kScalar);
    }
    CHECK(active_isa() == before);
  }

  TEST_CASE("dispatch_isa: falls back to the best implemented level not above the request") {
    static constexpr IsaSet kSet = kIsaSet<Isa::kAvx2>;
    auto level = [](Isa isa) {
      return dispatch_isa<kSet>(isa, []<Isa I>() { return I; });
    };
    CHECK(level(Isa::kScalar) == Isa::kScalar);
    CHECK(level(Isa::kAvx512Vnni) == Isa::kAvx2);
    CHECK(dispatched_isa<kSet>(Isa::kAvx512) == Isa::kAvx2);
    CHECK(dispatched_isa<kIsaSet<>>(Isa::kAvx512) == Isa::kScalar);
    CHECK(level(Isa::kAmx) == Isa::kAvx2);
    static constexpr IsaSet kWithAmx = kIsaSet<Isa::kAvx2, Isa::kAvx512Vnni, Isa::kAmx>;
    auto amx_level = [](Isa isa) { return dispatch_isa<kWithAmx>(isa, []<Isa I>() { return I; }); };
    CHECK(amx_level(Isa::kAvx512Vnni) == Isa::kAvx512Vnni);
    CHECK(amx_level(Isa::kAmx) == (kMaxCompiledIsa >= Isa::kAmx ? Isa::kAmx : Isa::kAvx512Vnni));
    CHECK(dispatched_isa<kWithAmx>(Isa::kAmx) == amx_level(Isa::kAmx));
  }

  TEST_CASE("Rng: deterministic per seed, uniform in [0, 1), normal moments") {
    Rng a(1), b(1), c(2);
    for (int i = 0; i < 10; ++i) {
      std::uint64_t const x = a.next_u64();
      CHECK(x == b.next_u64());
      CHECK(x != c.next_u64());
    }
    Rng r(3);
    double mean = 0, var = 0;
    int const n = 20000;
    for (int i = 0; i < n; ++i) {
      double const u = r.uniform();
      CHECK((u >= 0.0 && u < 1.0));
      double const z = r.normal();
      mean += z;
      var += z * z;
    }
    CHECK(std::abs(mean / n) < 0.03);
    CHECK(std::abs(var / n - 1.0) < 0.05);
    std::set<std::uint64_t> seen;
    for (int i = 0; i < 1000; ++i) seen.insert(r.uniform_int(7));
    CHECK(seen.size() == 7);
  }

  TEST_CASE("MatrixView: strides, const conversion and shape errors") {
    std::vector<float> data(12);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = float(i);
    MatrixView<float> v(data.data(), 3, 3, 4);
    CHECK(v(2, 1) == 9.0f);
    CHECK_FALSE(v.is_contiguous());
    MatrixView<float const> cv = v;
    CHECK(cv.row(1)[0] == 4.0f);
    CHECK_THROWS_AS(MatrixView<float>(data.data(), 2, 5, 4), ShapeError);
  }

  TEST_CASE("AlignedBuffer: zeroed and 64-byte aligned") {
    AlignedBuffer<double> buf(100);
    CHECK(reinterpret_cast<std::uintptr_t>(buf.data()) % 64 == 0);
    for (std::size_t i = 0; i < buf.size(); ++i) CHECK(buf[i] == 0.0);
  }

  TEST_CASE("parallel_for: covers [0, n) exactly once") {
    for (int threads : {1, 2, 3}) {
      std::vector<int> hits(1001, 0);
      parallel_for(hits.size(), threads, 1, [&](std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) hits[i] += 1;
      });
      for (int h : hits) CHECK(h == 1);
    }
  }

  TEST_CASE("checked_size: products and sums that wrap are errors, not small allocations") {
    CHECK(checked_mul(3, 5, "x") == 15);
    CHECK(checked_product({2, 3, 7}, "x") == 42);
    // 4611686018427387905 · 32 wraps to 32 (the RoPE table of `ppl -c 4611686018427387905`).
    CHECK_THROWS_WITH_AS(checked_mul(4611686018427387905ull, 32, "rope table"),
                         doctest::Contains("rope table"), ShapeError);
    CHECK_THROWS_AS(checked_add(~std::size_t{0}, 1, "x"), ShapeError);
    CHECK_THROWS_AS(checked_product({std::size_t{1} << 40, std::size_t{1} << 30}, "x"), ShapeError);
    CHECK(checked_elements(1024, 4, 4096, "x") == 1024);
    CHECK_THROWS_AS(checked_elements(1025, 4, 4096, "x"), ShapeError);
  }
}
