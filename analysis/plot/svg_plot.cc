#include "analysis/plot/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lmul::plot {
namespace {

constexpr double kLeft = 80, kTop = 60, kBottom = 70;
constexpr double kTicks125[] = {1, 1.5, 2, 3, 4, 5, 7};  // log-axis ticks per decade
constexpr double kLegendRow = 22, kNoteRow = 16;

std::string Fmt(const char* fmt, auto... args) {
  char buf[512];
  std::snprintf(buf, sizeof buf, fmt, args...);
  return buf;
}

size_t LegendEntries(const Plot& p) {
  size_t n = 0;
  for (const Series& s : p.series) n += !s.label.empty();
  return n;
}

// The log axis: from the 1-2-5 tick at or below lo to the one at or above hi.
void LogRange(double lo, double hi, double* bot, double* top) {
  const double d_lo = std::pow(10, std::floor(std::log10(lo)));
  *bot = d_lo;
  for (double t : kTicks125) {
    if (d_lo * t <= lo) *bot = d_lo * t;
  }
  *top = std::pow(10, std::ceil(std::log10(hi)));
  for (int d = static_cast<int>(std::floor(std::log10(hi))); d <= std::ceil(std::log10(hi)); ++d) {
    bool found = false;
    for (double t : kTicks125) {
      const double v = std::pow(10, d) * t;
      if (v >= hi) {
        *top = std::min(*top, v);
        found = true;
        break;
      }
    }
    if (found) break;
  }
  if (*top <= *bot) *top = *bot * 10;
}

// Linear y ticks: a 1-2-5 step giving at most 10 intervals.
double LinearStep(double lo, double hi) {
  const double span = hi > lo ? hi - lo : 1;
  const double decade = std::pow(10, std::floor(std::log10(span / 10)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (span / (m * decade) <= 10) return m * decade;
  }
  return 10 * decade;
}

std::string MarkerSvg(Marker m, double x, double y, const std::string& color) {
  switch (m) {
    case Marker::kCircle:
      return Fmt("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x, y, color.c_str());
    case Marker::kSquare:
      return Fmt(
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"9\" height=\"9\" fill=\"none\" stroke=\"%s\" "
          "stroke-width=\"1.5\"/>\n",
          x - 4.5, y - 4.5, color.c_str());
    case Marker::kNone:
      break;
  }
  return "";
}

std::string DashAttr(const std::string& dash) {
  return dash.empty() ? "" : " stroke-dasharray=\"" + EscapeXml(dash) + "\"";
}

}  // namespace

std::string EscapeXml(const std::string& s) {
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

Series Curve(std::string label, std::string color, std::vector<double> x, std::vector<double> y) {
  Series s;
  s.label = std::move(label);
  s.color = std::move(color);
  s.x = std::move(x);
  s.y = std::move(y);
  return s;
}

Series HorizontalLine(std::string label, std::string color, double y) {
  Series s = Curve(std::move(label), std::move(color), {}, {y});
  s.horizontal = true;
  return s;
}

double Axes::X(double x) const { return left + (x - x_min) / (x_max - x_min) * width; }

double Axes::Y(double y) const {
  if (log_y) {
    return top + height -
           (std::log10(y) - std::log10(y_min)) / (std::log10(y_max) - std::log10(y_min)) * height;
  }
  return top + height - (y - y_min) / (y_max - y_min) * height;
}

Axes Layout(const Plot& p) {
  Axes a;
  a.left = kLeft;
  a.top = kTop;
  a.width = p.frame_width;
  a.height = p.frame_height;
  a.log_y = p.log_y;
  // Legend: a 30 px sample, 6 px gap, 12 px text; notes 11 px text.
  double legend_w = 36;
  for (const Series& s : p.series) {
    legend_w = std::max(legend_w, 36 + kEm * 12 * static_cast<double>(s.label.size()));
  }
  for (const std::string& n : p.notes) legend_w = std::max(legend_w, kEm * 11 * n.size());
  a.canvas_width = kLeft + a.width + 15 + legend_w + 15;
  const double legend_h = 10 + kLegendRow * static_cast<double>(LegendEntries(p)) +
                          kNoteRow * static_cast<double>(p.notes.size()) + 10;
  a.canvas_height = std::max(kTop + a.height + kBottom, kTop + legend_h);

  // x: given, else the data's.
  a.x_min = p.x_min;
  a.x_max = p.x_max;
  if (a.x_min > a.x_max) {
    a.x_min = 1e300;
    a.x_max = -1e300;
    for (const Series& s : p.series) {
      if (s.horizontal) continue;
      for (double x : s.x) {
        a.x_min = std::min(a.x_min, x);
        a.x_max = std::max(a.x_max, x);
      }
    }
    if (a.x_min > a.x_max) {  // no data
      a.x_min = 0;
      a.x_max = 1;
    }
  }
  if (a.x_min == a.x_max) {
    a.x_min -= 1;
    a.x_max += 1;
  }

  // y: every drawn value (log: the positive ones).
  double lo = 1e300, hi = -1e300;
  for (const Series& s : p.series) {
    for (size_t i = 0; i < s.y.size() && (!s.horizontal || i < 1); ++i) {
      if (p.log_y && !(s.y[i] > 0)) continue;
      lo = std::min(lo, s.y[i]);
      hi = std::max(hi, s.y[i]);
    }
  }
  if (p.log_y) {
    if (lo > hi) lo = hi = 1;
    LogRange(std::max(lo, 1e-300), std::max(hi, 1e-300), &a.y_min, &a.y_max);
  } else {
    if (lo > hi) {
      lo = 0;
      hi = 1;
    }
    lo = std::min(lo, 0.0);
    const double step = LinearStep(lo, hi);
    a.y_min = std::floor(lo / step) * step;
    a.y_max = std::ceil(hi / step) * step;
    if (a.y_max <= a.y_min) a.y_max = a.y_min + step;
  }
  return a;
}

std::string RenderSvg(const Plot& p) {
  const Axes a = Layout(p);
  const double L = a.left, T = a.top, pw = a.width, ph = a.height;
  std::string s =
      Fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
          "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          a.canvas_width, a.canvas_height, a.canvas_width, a.canvas_height);
  s += "<text x=\"" + Fmt("%.0f", L + pw / 2) + "\" y=\"28\" font-size=\"17\" " +
       "text-anchor=\"middle\">" + EscapeXml(p.title) + "</text>\n";
  if (!p.subtitle.empty()) {
    s += "<text x=\"" + Fmt("%.0f", L + pw / 2) + "\" y=\"48\" font-size=\"13\" " +
         "text-anchor=\"middle\" fill=\"#444\">" + EscapeXml(p.subtitle) + "</text>\n";
  }
  // Grid and tick labels.
  auto y_tick = [&](double v) {
    s +=
        Fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"end\">%g</text>\n",
            L, a.Y(v), L + pw, a.Y(v), L - 6, a.Y(v) + 4, v);
  };
  if (p.log_y) {
    for (int d = static_cast<int>(std::floor(std::log10(a.y_min))) - 1;
         d <= std::log10(a.y_max) + 1; ++d) {
      for (double t : kTicks125) {
        const double v = std::pow(10, d) * t;
        if (v < a.y_min * (1 - 1e-9) || v > a.y_max * (1 + 1e-9)) continue;
        y_tick(v);
      }
    }
  } else {
    const double step = LinearStep(a.y_min, a.y_max);
    for (double v = a.y_min; v <= a.y_max + step * 1e-9; v += step) y_tick(v);
  }
  const double x_step = std::max(1.0, std::ceil((a.x_max - a.x_min) / 20));
  for (double x = std::ceil(a.x_min); x <= a.x_max; x += x_step) {
    s +=
        Fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>\n"
            "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">%g</text>\n",
            a.X(x), T, a.X(x), T + ph, a.X(x), T + ph + 18, x);
  }
  s +=
      Fmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"black\"/>\n",
          L, T, pw, ph);
  s += Fmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\">", L + pw / 2,
           T + ph + 45) +
       EscapeXml(p.x_label) + "</text>\n";
  s += Fmt("<text x=\"20\" y=\"%.1f\" font-size=\"14\" text-anchor=\"middle\" "
           "transform=\"rotate(-90 20 %.1f)\">",
           T + ph / 2, T + ph / 2) +
       EscapeXml(p.y_label) + "</text>\n";

  // Series: reference lines first (under the data), then the others in order.
  for (int pass = 0; pass < 2; ++pass) {
    for (const Series& sr : p.series) {
      if (sr.horizontal != (pass == 0)) continue;
      const std::string color = EscapeXml(sr.color);
      if (sr.horizontal) {
        if (sr.y.empty() || (p.log_y && !(sr.y[0] > 0))) continue;
        s += Fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" ", L,
                 a.Y(sr.y[0]), L + pw, a.Y(sr.y[0]), color.c_str()) +
             Fmt("stroke-width=\"%g\"", sr.stroke_width) + DashAttr(sr.dash) + "/>\n";
        continue;
      }
      const size_t n = std::min(sr.x.size(), sr.y.size());
      std::string points;
      for (size_t i = 0; i < n; ++i) {
        if (p.log_y && !(sr.y[i] > 0)) continue;
        points += Fmt("%.1f,%.1f ", a.X(sr.x[i]), a.Y(sr.y[i]));
      }
      if (sr.line && !points.empty()) {
        s += "<polyline points=\"" + points + "\" fill=\"none\" stroke=\"" + color + "\" " +
             Fmt("stroke-width=\"%g\"", sr.stroke_width) + DashAttr(sr.dash) + "/>\n";
      }
      for (size_t i = 0; i < n; ++i) {
        if (p.log_y && !(sr.y[i] > 0)) continue;
        s += MarkerSvg(sr.marker, a.X(sr.x[i]), a.Y(sr.y[i]), color);
      }
    }
  }

  // Legend right of the frame: a sample of each series (line and marker), then the notes.
  const double lx = L + pw + 15;
  double ly = T + 10;
  for (const Series& sr : p.series) {
    if (sr.label.empty()) continue;
    const std::string color = EscapeXml(sr.color);
    s += Fmt("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" ", lx, ly,
             lx + 30, ly, color.c_str()) +
         Fmt("stroke-width=\"%g\"", sr.stroke_width) + DashAttr(sr.dash) + "/>";
    s += sr.marker == Marker::kNone ? "\n" : MarkerSvg(sr.marker, lx + 15, ly, color);
    s += Fmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", lx + 36, ly + 4) +
         EscapeXml(sr.label) + "</text>\n";
    ly += kLegendRow;
  }
  for (const std::string& n : p.notes) {
    s += Fmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#555\">", lx, ly + 6) +
         EscapeXml(n) + "</text>\n";
    ly += kNoteRow;
  }
  s += "</svg>\n";
  return s;
}

}  // namespace lmul::plot
