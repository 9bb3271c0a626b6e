// Line charts as standalone SVG: benchmark sweeps (TFLOP/s or bandwidth against size, log2 x axis)
// and training curves (`primus plot`). Several charts stack vertically in one file.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace primus::bench {

struct Series {
  std::string name;                               // legend entry
  std::vector<std::pair<double, double>> points;  // (x, y); non-finite points are skipped
};

struct Chart {
  std::string title;
  std::string x_label, y_label;
  bool log_x = false;        // log2 x axis (sizes); x values must be > 0
  bool x_sizes = false;      // label x ticks 1K, 2M, ... (bytes or elements)
  std::vector<Series> series;
};

// One SVG document holding the charts top to bottom. Throws primus::Error if no chart has a point.
std::string svg_render(const std::vector<Chart>& charts);

// Writes svg_render(charts) to path. Throws primus::Error.
void svg_write(const std::vector<Chart>& charts, const std::string& path);

}  // namespace primus::bench
