// SPDX-License-Identifier: Apache-2.0
// A small SVG writer for x/y plots: scatter or line series, axes with round-number ticks, legend,
// title, dashed horizontal reference lines; optional PNG through rsvg-convert.
#pragma once

#include <string>
#include <vector>

namespace dfrot::app {

/// One data series; x and y have the same length.
struct PlotSeries {
  std::string label;
  std::vector<double> x;
  std::vector<double> y;
  std::string color = "#1f77b4";  ///< any SVG color
  bool markers = true;            ///< a dot per point
  bool line = false;              ///< a polyline through the points
};

/// A horizontal reference line across the plot (e.g. a threshold).
struct PlotHLine {
  double y = 0.0;
  std::string label;  ///< legend entry (none when empty)
  std::string color = "#333333";
  bool dashed = true;
};

/// A whole figure. Axis ranges cover all series and lines, extended to round tick values; the y
/// axis starts at 0 when every y is ≥ 0.
struct Plot {
  std::string title;
  std::string subtitle;  ///< smaller second title line (may be empty)
  std::string x_label;
  std::string y_label;
  std::vector<PlotSeries> series;
  std::vector<PlotHLine> hlines;
  int width = 1000;  ///< pixels
  int height = 560;
  double marker_radius = 1.8;
};

/// Round tick values (steps 1, 2 or 5 × 10^k) covering [lo, hi] with at most `max_ticks` ticks;
/// the first tick is ≤ lo and the last ≥ hi. lo == hi is widened to a unit interval.
std::vector<double> nice_ticks(double lo, double hi, int max_ticks = 8);

/// The figure as a standalone SVG document. \throws UsageError when a series' x and y differ in
/// length or a value is not finite.
std::string render_svg(Plot const& plot);

/// render_svg to `path`. \throws IoError when the file cannot be written.
void write_svg(Plot const& plot, std::string const& path);

/// Renders `svg_path` to `png_path` with rsvg-convert or ImageMagick's convert, whichever is
/// installed and works. Returns the converter used, or an empty string when none succeeded.
std::string convert_svg_to_png(std::string const& svg_path, std::string const& png_path);

}  // namespace dfrot::app
