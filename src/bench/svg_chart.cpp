// SVG line charts (see svg_chart.h): axes with rounded ticks, one polyline and markers per series,
// a legend. No dependencies; the output opens in any browser.
#include "bench/svg_chart.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>

#include "bench/sweep.h"
#include "core/error.h"

namespace primus::bench {
namespace {

constexpr double kWidth = 860, kHeight = 420, kLeft = 80, kRight = 190, kTop = 40, kBottom = 60;
const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"};

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

// Ticks at 1, 2 or 5 times a power of ten covering [lo, hi].
std::vector<double> linear_ticks(double lo, double hi) {
  double span = hi - lo;
  double step = std::pow(10.0, std::floor(std::log10(span / 5)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (span / (step * m) <= 6) {
      step *= m;
      break;
    }
  }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) t.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string tick_label(double v, bool sizes) {
  if (sizes) return size_label(v);
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) return fmt::format("{:.2g}", v);
  return fmt::format("{:g}", v);
}

std::string chart_render(const Chart& c, double y0) {
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : c.series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || (c.log_x && x <= 0)) continue;
      double xv = c.log_x ? std::log2(x) : x;
      xmin = std::min(xmin, xv), xmax = std::max(xmax, xv);
      ymin = std::min(ymin, y), ymax = std::max(ymax, y);
    }
  std::string out = fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"16\" font-weight=\"bold\">{}</text>\n", kLeft,
                                y0 + 24, xml_escape(c.title));
  if (!std::isfinite(xmin)) return out + fmt::format("<text x=\"{}\" y=\"{}\">no data</text>\n", kLeft, y0 + 80);
  if (ymin > 0 && ymin < 0.5 * ymax) ymin = 0;  // start at zero unless the data sits far above it
  if (xmax == xmin) xmin -= 1, xmax += 1;
  if (ymax == ymin) ymin -= std::max(1.0, std::fabs(ymin) * 0.1), ymax += std::max(1.0, std::fabs(ymax) * 0.1);
  double pad = (ymax - ymin) * 0.05;
  ymax += pad;
  if (ymin != 0) ymin -= pad;
  double pw = kWidth - kLeft - kRight, ph = kHeight - kTop - kBottom, top = y0 + kTop;
  auto px = [&](double xv) { return kLeft + (xv - xmin) / (xmax - xmin) * pw; };
  auto py = [&](double y) { return top + ph - (y - ymin) / (ymax - ymin) * ph; };
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#444\"/>\n", kLeft, top, pw, ph);
  for (double t : linear_ticks(ymin, ymax)) {
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", kLeft, kLeft + pw, py(t), py(t));
    out += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\" font-size=\"11\">{}</text>\n", kLeft - 6, py(t) + 4,
                       tick_label(t, false));
  }
  std::vector<double> xt;
  if (c.log_x) {
    int step = std::max(1, static_cast<int>(std::ceil((xmax - xmin) / 10)));
    for (int e = static_cast<int>(std::ceil(xmin)); e <= xmax + 1e-9; e += step) xt.push_back(e);
  } else {
    xt = linear_ticks(xmin, xmax);
  }
  for (double t : xt) {
    double v = c.log_x ? std::exp2(t) : t;
    out += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{}\" y2=\"{}\" stroke=\"#ddd\"/>\n", px(t), px(t), top, top + ph);
    out += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11\">{}</text>\n", px(t), top + ph + 16,
                       tick_label(v, c.x_sizes));
  }
  out += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n", kLeft + pw / 2,
                     top + ph + 40, xml_escape(c.x_label));
  out += fmt::format("<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">{}</text>\n",
                     18, top + ph / 2, xml_escape(c.y_label));
  for (size_t i = 0; i < c.series.size(); ++i) {
    const auto& s = c.series[i];
    const char* color = kColors[i % std::size(kColors)];
    std::string pts;
    bool markers = s.points.size() <= 64;
    std::string dots;
    for (auto [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y) || (c.log_x && x <= 0)) continue;
      double X = px(c.log_x ? std::log2(x) : x), Y = py(y);
      pts += fmt::format("{:.1f},{:.1f} ", X, Y);
      if (markers) dots += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"/>\n", X, Y, color);
    }
    out += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n{}", color, pts, dots);
    double ly = top + 10 + 20.0 * static_cast<double>(i);
    out += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"3\"/>\n", kLeft + pw + 12,
                       kLeft + pw + 32, ly, ly, color);
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\">{}</text>\n", kLeft + pw + 38, ly + 4, xml_escape(s.name));
  }
  return out;
}

}  // namespace

std::string svg_render(const std::vector<Chart>& charts) {
  bool any = false;
  for (const auto& c : charts)
    for (const auto& s : c.series) any = any || !s.points.empty();
  if (!any) throw Error("nothing to plot: no data points", "check that the run or sweep produced results");
  double h = kHeight * static_cast<double>(charts.size());
  std::string out = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      kWidth, h, kWidth, h);
  for (size_t i = 0; i < charts.size(); ++i) out += chart_render(charts[i], kHeight * static_cast<double>(i));
  return out + "</svg>\n";
}

void svg_write(const std::vector<Chart>& charts, const std::string& path) {
  std::string text = svg_render(charts);
  std::ofstream f(path, std::ios::binary);
  if (!f) throw Error(fmt::format("cannot write {}", path), "check that the folder exists and is writable");
  f << text;
  if (!f) throw Error(fmt::format("writing {} failed", path), "is the disk full?");
}

}  // namespace primus::bench
