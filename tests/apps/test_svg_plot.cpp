// SPDX-License-Identifier: Apache-2.0
// The SVG plot writer of the apps: tick choice, document structure, escaping, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common/svg_plot.hpp"
#include "dfrot/core/error.hpp"

using namespace dfrot;

namespace {

std::size_t count(std::string const& s, std::string const& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + what.size())) ++n;
  return n;
}

app::Plot two_series() {
  app::Plot p;
  p.title = "model <A&B>: layer 3";
  p.x_label = "token index";
  p.y_label = "error";
  p.series.push_back({"no rotation", {0, 1, 2, 3}, {9.5, 2.0, 9.0, 8.5}, "#d62728", true, false});
  p.series.push_back({"hadamard", {0, 1, 2, 3}, {3.0, 1.5, 3.1, 2.9}, "#2ca02c", true, true});
  p.hlines.push_back({3.19, "threshold 3.19", "#111111", true});
  return p;
}

}  // namespace

TEST_SUITE("apps") {
  TEST_CASE("nice_ticks: 1-2-5 steps covering the range") {
    CHECK(app::nice_ticks(0, 10, 6) == std::vector<double>{0, 2, 4, 6, 8, 10});
    CHECK(app::nice_ticks(0, 2047, 10) == std::vector<double>{0, 500, 1000, 1500, 2000, 2500});
    auto const t = app::nice_ticks(0.13, 0.87, 9);  // 0.1 … 0.9
    REQUIRE(t.size() >= 2);
    CHECK(t.front() <= 0.13);
    CHECK(t.back() >= 0.87);
    CHECK(t.size() == 9);
    CHECK((t[1] - t[0]) == doctest::Approx(0.1));
    CHECK(app::nice_ticks(-3, -3, 5).size() >= 2);  // degenerate range widened
    CHECK_THROWS_AS(app::nice_ticks(1, 0, 5), UsageError);
  }

  TEST_CASE("render_svg: one marker per point, polyline, dashed line, legend, escaped title") {
    std::string const svg = app::render_svg(two_series());
    CHECK(svg.rfind("<?xml", 0) == 0);
    CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
    CHECK(svg.find("</svg>") != std::string::npos);
    CHECK(svg.find("model &lt;A&amp;B&gt;: layer 3") != std::string::npos);
    CHECK(svg.find("<A&B>") == std::string::npos);
    // 8 data markers + 2 legend markers; one polyline; the dashed line and its legend sample.
    CHECK(count(svg, "<circle") == 10);
    CHECK(count(svg, "<polyline") == 1);
    CHECK(count(svg, "stroke-dasharray") == 2);
    CHECK(svg.find(">no rotation</text>") != std::string::npos);
    CHECK(svg.find(">hadamard</text>") != std::string::npos);
    CHECK(svg.find(">threshold 3.19</text>") != std::string::npos);
    CHECK(svg.find(">token index</text>") != std::string::npos);
    // y starts at 0 for non-negative data; the tick labels show round values.
    CHECK(svg.find(">0</text>") != std::string::npos);
    CHECK(svg.find(">10</text>") != std::string::npos);
    CHECK(count(svg, "<text") == count(svg, "</text>"));
    CHECK(count(svg, "<g") == count(svg, "</g>"));
  }

  TEST_CASE("render_svg: rejects mismatched and non-finite series; write_svg writes the file") {
    app::Plot p = two_series();
    p.series[0].y.pop_back();
    CHECK_THROWS_AS(app::render_svg(p), UsageError);
    p = two_series();
    p.series[1].y[2] = std::nan("");
    CHECK_THROWS_AS(app::render_svg(p), UsageError);
    auto const path = std::filesystem::temp_directory_path() / "dfrot_test_plot.svg";
    app::write_svg(two_series(), path.string());
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    CHECK(s.str() == app::render_svg(two_series()));
    std::filesystem::remove(path);
    CHECK_THROWS_AS(app::write_svg(two_series(), "/nonexistent-dir/x.svg"), IoError);
  }
}
