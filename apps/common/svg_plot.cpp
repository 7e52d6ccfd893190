// SPDX-License-Identifier: Apache-2.0
#include "common/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "dfrot/core/error.hpp"
#include "dfrot/io/atomic_file.hpp"

namespace dfrot::app {

namespace {

std::string escape_xml(std::string const& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// Coordinates with one decimal: enough for pixels, keeps the file small.
std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

/// A tick label with as many decimals as the step needs (step 0.25 → "0.25", 500 → "500").
std::string tick_label(double v, double step) {
  int decimals = 0;
  while (decimals < 6 && std::abs(step * std::pow(10.0, decimals) -
                                  std::round(step * std::pow(10.0, decimals))) > 1e-6)
    ++decimals;
  if (std::abs(v) < step * 1e-9) v = 0.0;  // no "-0"
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return lo > hi; }
};

/// Shell-quotes a path for std::system ('…' with embedded quotes closed and escaped).
std::string shell_quote(std::string const& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

bool have_command(char const* name) {
  std::string const cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int max_ticks) {
  DFROT_THROW_IF(!std::isfinite(lo) || !std::isfinite(hi) || lo > hi, UsageError,
                 "plot: bad axis range [", lo, ", ", hi, "]");
  if (lo == hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  max_ticks = std::max(max_ticks, 2);
  double const raw = (hi - lo) / double(max_ticks - 1);
  double const mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10.0 * mag;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    double const s = m * mag;
    if (std::floor(lo / s) + double(max_ticks - 1) >= std::ceil(hi / s)) {
      step = s;
      break;
    }
  }
  std::vector<double> ticks;
  double const first = std::floor(lo / step), last = std::ceil(hi / step);
  for (double k = first; k <= last; k += 1.0) ticks.push_back(k * step);
  return ticks;
}

std::string render_svg(Plot const& p) {
  Range xr, yr;
  for (auto const& s : p.series) {
    DFROT_THROW_IF(s.x.size() != s.y.size(), UsageError, "plot: series '", s.label, "' has ",
                   s.x.size(), " x values but ", s.y.size(), " y values");
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      DFROT_THROW_IF(!std::isfinite(s.x[i]) || !std::isfinite(s.y[i]), UsageError, "plot: series '",
                     s.label, "' point ", i, " is not finite");
      xr.add(s.x[i]);
      yr.add(s.y[i]);
    }
  }
  for (auto const& h : p.hlines) yr.add(h.y);
  if (xr.empty()) xr = {0.0, 1.0};
  if (yr.empty()) yr = {0.0, 1.0};
  if (yr.lo >= 0) yr.lo = 0.0;
  // x spans the data exactly (ticks inside it); y is widened to round ticks, with headroom.
  std::vector<double> xt = nice_ticks(xr.lo, xr.hi, 10);
  double xlo = xt.front(), xhi = xt.back();
  if (xr.lo < xr.hi) {
    xlo = xr.lo;
    xhi = xr.hi;
    double const eps = 1e-9 * (xhi - xlo);
    std::erase_if(xt, [&](double t) { return t < xlo - eps || t > xhi + eps; });
  }
  double const left = 78, right = 24, top = p.subtitle.empty() ? 48 : 66, bottom = 58;
  double const x0 = left, x1 = p.width - right, y0 = top, y1 = p.height - bottom;
  std::size_t n_entries = p.series.size();
  for (auto const& h : p.hlines) n_entries += h.label.empty() ? 0 : 1;
  // Headroom so that the data stays below the legend box (10 px + 20 px per entry + margins).
  double const legend_px = n_entries ? 40.0 + 20.0 * double(n_entries) : 10.0;
  double const free = std::max(0.3, 1.0 - legend_px / (y1 - y0));
  std::vector<double> const yt = nice_ticks(yr.lo, yr.lo + (yr.hi - yr.lo) / free, 8);
  double const ylo = yt.front(), yhi = yt.back();
  auto sx = [&](double v) { return x0 + (v - xlo) / (xhi - xlo) * (x1 - x0); };
  auto sy = [&](double v) { return y1 - (v - ylo) / (yhi - ylo) * (y1 - y0); };

  std::ostringstream o;
  o << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << p.width << "\" height=\"" << p.height
    << "\" viewBox=\"0 0 " << p.width << ' ' << p.height
    << "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o << "<text x=\"" << px(p.width / 2.0) << "\" y=\"26\" text-anchor=\"middle\" font-size=\"17\" "
    << "font-weight=\"bold\">" << escape_xml(p.title) << "</text>\n";
  if (!p.subtitle.empty())
    o << "<text x=\"" << px(p.width / 2.0) << "\" y=\"47\" text-anchor=\"middle\" font-size=\"13\" "
      << "fill=\"#444\">" << escape_xml(p.subtitle) << "</text>\n";

  // Grid, ticks and tick labels.
  o << "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n";
  for (double t : xt)
    o << "<line x1=\"" << px(sx(t)) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(sx(t)) << "\" y2=\""
      << px(y1) << "\"/>\n";
  for (double t : yt)
    o << "<line x1=\"" << px(x0) << "\" y1=\"" << px(sy(t)) << "\" x2=\"" << px(x1) << "\" y2=\""
      << px(sy(t)) << "\"/>\n";
  o << "</g>\n<g font-size=\"12\" fill=\"#222\">\n";
  double const xstep = xt.size() > 1 ? xt[1] - xt[0] : 1.0;
  double const ystep = yt.size() > 1 ? yt[1] - yt[0] : 1.0;
  for (double t : xt)
    o << "<text x=\"" << px(sx(t)) << "\" y=\"" << px(y1 + 18) << "\" text-anchor=\"middle\">"
      << tick_label(t, xstep) << "</text>\n";
  for (double t : yt)
    o << "<text x=\"" << px(x0 - 7) << "\" y=\"" << px(sy(t) + 4) << "\" text-anchor=\"end\">"
      << tick_label(t, ystep) << "</text>\n";
  o << "</g>\n";
  o << "<g stroke=\"#222\" stroke-width=\"1\">\n";
  for (double t : xt)
    o << "<line x1=\"" << px(sx(t)) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(sx(t)) << "\" y2=\""
      << px(y1 + 5) << "\"/>\n";
  for (double t : yt)
    o << "<line x1=\"" << px(x0 - 5) << "\" y1=\"" << px(sy(t)) << "\" x2=\"" << px(x0)
      << "\" y2=\"" << px(sy(t)) << "\"/>\n";
  o << "</g>\n";
  o << "<text x=\"" << px((x0 + x1) / 2) << "\" y=\"" << px(p.height - 14.0)
    << "\" text-anchor=\"middle\" font-size=\"14\">" << escape_xml(p.x_label) << "</text>\n";
  o << "<text transform=\"translate(20 " << px((y0 + y1) / 2) << ") rotate(-90)\" "
    << "text-anchor=\"middle\" font-size=\"14\">" << escape_xml(p.y_label) << "</text>\n";

  // Data, clipped to the plot area.
  o << "<defs><clipPath id=\"area\"><rect x=\"" << px(x0) << "\" y=\"" << px(y0) << "\" width=\""
    << px(x1 - x0) << "\" height=\"" << px(y1 - y0) << "\"/></clipPath></defs>\n";
  o << "<g clip-path=\"url(#area)\">\n";
  // Drawn last to first, so the first series (first in the legend) lies on top.
  for (auto it = p.series.rbegin(); it != p.series.rend(); ++it) {
    PlotSeries const& s = *it;
    if (s.line && !s.x.empty()) {
      o << "<polyline fill=\"none\" stroke=\"" << escape_xml(s.color)
        << "\" stroke-width=\"1.2\" stroke-opacity=\"0.8\" points=\"";
      for (std::size_t i = 0; i < s.x.size(); ++i)
        o << (i ? " " : "") << px(sx(s.x[i])) << ',' << px(sy(s.y[i]));
      o << "\"/>\n";
    }
    if (s.markers) {
      o << "<g fill=\"" << escape_xml(s.color) << "\" fill-opacity=\"0.65\">\n";
      for (std::size_t i = 0; i < s.x.size(); ++i)
        o << "<circle cx=\"" << px(sx(s.x[i])) << "\" cy=\"" << px(sy(s.y[i])) << "\" r=\""
          << px(p.marker_radius) << "\"/>\n";
      o << "</g>\n";
    }
  }
  for (auto const& h : p.hlines) {
    o << "<line x1=\"" << px(x0) << "\" y1=\"" << px(sy(h.y)) << "\" x2=\"" << px(x1) << "\" y2=\""
      << px(sy(h.y)) << "\" stroke=\"" << escape_xml(h.color) << "\" stroke-width=\"1.6\""
      << (h.dashed ? " stroke-dasharray=\"7 5\"" : "") << "/>\n";
  }
  o << "</g>\n";
  o << "<rect x=\"" << px(x0) << "\" y=\"" << px(y0) << "\" width=\"" << px(x1 - x0)
    << "\" height=\"" << px(y1 - y0) << "\" fill=\"none\" stroke=\"#222\"/>\n";

  // Legend, top right inside the plot area: the series, then the labelled reference lines.
  std::vector<std::size_t> labelled;
  for (std::size_t i = 0; i < p.hlines.size(); ++i)
    if (!p.hlines[i].label.empty()) labelled.push_back(i);
  std::size_t longest = 0;
  for (auto const& s : p.series) longest = std::max(longest, s.label.size());
  for (std::size_t i : labelled) longest = std::max(longest, p.hlines[i].label.size());
  if (n_entries != 0) {
    double const lw = 46 + 7.2 * double(longest), lh = 10 + 20 * double(n_entries);
    double const lx = x1 - lw - 10, ly = y0 + 10;
    o << "<g font-size=\"13\">\n<rect x=\"" << px(lx) << "\" y=\"" << px(ly) << "\" width=\""
      << px(lw) << "\" height=\"" << px(lh)
      << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n";
    auto entry_text = [&](double cy, std::string const& label) {
      o << "<text x=\"" << px(lx + 40) << "\" y=\"" << px(cy + 4.5) << "\">" << escape_xml(label)
        << "</text>\n";
    };
    double cy = ly + 15;
    for (auto const& s : p.series) {
      if (s.line)
        o << "<line x1=\"" << px(lx + 8) << "\" y1=\"" << px(cy) << "\" x2=\"" << px(lx + 32)
          << "\" y2=\"" << px(cy) << "\" stroke=\"" << escape_xml(s.color)
          << "\" stroke-width=\"2\"/>\n";
      if (s.markers || !s.line)
        o << "<circle cx=\"" << px(lx + 20) << "\" cy=\"" << px(cy) << "\" r=\"4.5\" fill=\""
          << escape_xml(s.color) << "\"/>\n";
      entry_text(cy, s.label);
      cy += 20;
    }
    for (std::size_t i : labelled) {
      auto const& h = p.hlines[i];
      o << "<line x1=\"" << px(lx + 6) << "\" y1=\"" << px(cy) << "\" x2=\"" << px(lx + 34)
        << "\" y2=\"" << px(cy) << "\" stroke=\"" << escape_xml(h.color)
        << "\" stroke-width=\"1.6\"" << (h.dashed ? " stroke-dasharray=\"7 5\"" : "") << "/>\n";
      entry_text(cy, h.label);
      cy += 20;
    }
    o << "</g>\n";
  }
  o << "</svg>\n";
  return o.str();
}

void write_svg(Plot const& plot, std::string const& path) {
  std::string const svg = render_svg(plot);
  io::AtomicOutputFile file(path, "plot");
  file.stream() << svg;
  file.commit();
}

std::string convert_svg_to_png(std::string const& svg_path, std::string const& png_path) {
  struct Converter {
    char const* name;
    std::string command;
  };
  Converter const converters[] = {
      {"rsvg-convert", "rsvg-convert -o " + shell_quote(png_path) + " " + shell_quote(svg_path)},
      {"convert", "convert " + shell_quote(svg_path) + " " + shell_quote(png_path)},
  };
  for (auto const& c : converters) {
    if (!have_command(c.name)) continue;
    std::error_code ec;
    std::filesystem::remove(png_path, ec);
    std::string const cmd = c.command + " >/dev/null 2>&1";
    // Some installs ship a stand-in `convert`; only a PNG on disk counts as success.
    if (std::system(cmd.c_str()) == 0 && std::filesystem::exists(png_path, ec) &&
        std::filesystem::file_size(png_path, ec) > 0)
      return c.name;
  }
  return {};
}

}  // namespace dfrot::app
