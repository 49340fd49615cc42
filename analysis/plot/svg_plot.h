// lmul_plot: one small SVG line / scatter plot for every plot the tree draws (today
// `lmul error --plot`, docs/precision_error_vs_k.svg). No dependency beyond the standard
// library; the output is deterministic (same plot, same bytes).
//
// A plot is a frame (pw x ph pixels) with a linear x axis (integer ticks) and a linear or
// logarithmic y axis, series drawn in order, and a legend right of the frame. The canvas
// is widened and made taller to hold the legend's longest label and its notes, so no text
// is clipped (text extents are estimated at kEm em per character; DejaVu Sans averages
// ~0.55 em, kEm errs wide).
#ifndef LMUL_ANALYSIS_PLOT_SVG_PLOT_H_
#define LMUL_ANALYSIS_PLOT_SVG_PLOT_H_

#include <string>
#include <utility>
#include <vector>

namespace lmul::plot {

inline constexpr double kEm = 0.62;

enum class Marker { kNone, kCircle, kSquare };

struct Series {
  std::string label;  // legend text ("" : not in the legend)
  std::string color = "#1f77b4";
  std::vector<double> x, y;  // same length; a horizontal series uses y[0] only
  bool horizontal = false;   // a reference line across the whole frame at y[0]
  bool line = true;          // join the points
  std::string dash;          // SVG stroke-dasharray ("" : solid)
  double stroke_width = 2;
  Marker marker = Marker::kNone;
};

// A series through the points (x[i], y[i]); a reference line across the frame at y.
Series Curve(std::string label, std::string color, std::vector<double> x = {},
             std::vector<double> y = {});
Series HorizontalLine(std::string label, std::string color, double y);

struct Plot {
  std::string title, subtitle;  // centred above the frame
  std::string x_label, y_label;
  bool log_y = false;  // y ticks 1, 1.5, 2, 3, 4, 5, 7 per decade
  double frame_width = 490, frame_height = 390;
  // The x range; empty (min > max): the data's range, widened by one each side when it is
  // a single value.
  double x_min = 1, x_max = 0;
  std::vector<Series> series;
  std::vector<std::string> notes;  // grey lines under the legend
};

// Where a value lands (frame coordinates included in the canvas), for tests.
struct Axes {
  double left, top, width, height;  // the frame
  double canvas_width, canvas_height;
  double x_min, x_max, y_min, y_max;  // the ranges shown
  double X(double x) const;
  double Y(double y) const;
  bool log_y = false;
};
Axes Layout(const Plot& p);

std::string RenderSvg(const Plot& p);

// XML-escapes text for an SVG text node or attribute (&, <, >, ").
std::string EscapeXml(const std::string& s);

}  // namespace lmul::plot

#endif  // LMUL_ANALYSIS_PLOT_SVG_PLOT_H_
