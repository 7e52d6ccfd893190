// SPDX-License-Identifier: Apache-2.0
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "dfrot/eval/calibration.hpp"

using namespace dfrot;

TEST_SUITE("eval") {
  TEST_CASE("calibration: seeded windows are contiguous runs inside the text") {
    std::vector<int> tokens(1000);
    std::iota(tokens.begin(), tokens.end(), 0);
    auto const a = eval::sample_calibration(tokens, {.n_windows = 16, .window = 100, .seed = 3});
    auto const b = eval::sample_calibration(tokens, {.n_windows = 16, .window = 100, .seed = 3});
    auto const c = eval::sample_calibration(tokens, {.n_windows = 16, .window = 100, .seed = 4});
    REQUIRE(a.windows.size() == 16);
    CHECK(a.starts == b.starts);
    CHECK(a.starts != c.starts);
    CHECK(a.n_tokens() == 1600);
    for (std::size_t i = 0; i < a.windows.size(); ++i) {
      CHECK(a.starts[i] + 100 <= 999);  // randint(0, T − L − 1): the last token is never used
      CHECK(a.windows[i].front() == static_cast<int>(a.starts[i]));
      CHECK(a.windows[i].back() == static_cast<int>(a.starts[i] + 99));
    }
  }

  TEST_CASE("calibration: every start in [0, T − L − 1] is reachable, none beyond") {
    std::vector<int> tokens(12, 0);
    std::iota(tokens.begin(), tokens.end(), 0);
    auto const s = eval::sample_calibration(tokens, {.n_windows = 2000, .window = 8, .seed = 1});
    std::vector<int> seen(12, 0);
    for (std::size_t st : s.starts) ++seen[st];
    for (std::size_t i = 0; i <= 3; ++i) CHECK(seen[i] > 0);
    for (std::size_t i = 4; i < 12; ++i) CHECK(seen[i] == 0);
  }

  TEST_CASE("calibration: a text shorter than one window, or empty settings, are shape errors") {
    std::vector<int> tokens(10, 1);
    CHECK_THROWS_AS(eval::sample_calibration(tokens, {.n_windows = 1, .window = 10, .seed = 0}),
                    ShapeError);
    CHECK_THROWS_AS(eval::sample_calibration(tokens, {.n_windows = 0, .window = 4, .seed = 0}),
                    ShapeError);
    CHECK_THROWS_AS(eval::sample_calibration(tokens, {.n_windows = 1, .window = 0, .seed = 0}),
                    ShapeError);
  }
}
