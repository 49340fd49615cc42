// The SVG plot: axes and ranges, where points land, what is drawn, escaping, and that every
// label lies inside the canvas.
#include "analysis/plot/svg_plot.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

namespace lmul::plot {
namespace {

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

Plot TwoCurves() {
  Plot p;
  p.title = "t";
  p.x_label = "x";
  p.y_label = "y";
  p.log_y = true;
  Series a = Curve("measured", "#111111", {1, 2, 3}, {10, 1, 0.12});
  a.marker = Marker::kCircle;
  Series b = Curve("theory", "#222222", {1, 3}, {8, 0.2});
  b.dash = "1,3";
  b.marker = Marker::kSquare;
  Series ref = HorizontalLine("reference", "#333333", 3);
  p.series = {a, b, ref};
  return p;
}

TEST(SvgPlot, LogAxisSpansTheDataOnOneTwoFiveTicks) {
  const Axes ax = Layout(TwoCurves());
  EXPECT_EQ(ax.x_min, 1);
  EXPECT_EQ(ax.x_max, 3);
  EXPECT_DOUBLE_EQ(ax.y_min, 0.1);  // the tick at or below 0.12
  EXPECT_DOUBLE_EQ(ax.y_max, 10);   // the tick at or above 10
  // Ends of the ranges land on the frame's edges; log scale puts 1 in the middle.
  EXPECT_DOUBLE_EQ(ax.X(1), ax.left);
  EXPECT_DOUBLE_EQ(ax.X(3), ax.left + ax.width);
  EXPECT_NEAR(ax.Y(10), ax.top, 1e-9);
  EXPECT_NEAR(ax.Y(0.1), ax.top + ax.height, 1e-9);
  EXPECT_NEAR(ax.Y(1), ax.top + ax.height / 2, 1e-9);
}

TEST(SvgPlot, LinearAxisAndSingleX) {
  Plot p;
  p.series = {Curve("", "#000000", {5}, {0.7})};
  const Axes ax = Layout(p);
  EXPECT_EQ(ax.x_min, 4);  // a single x is widened by one each side
  EXPECT_EQ(ax.x_max, 6);
  EXPECT_EQ(ax.y_min, 0);  // linear axes include 0
  EXPECT_NEAR(ax.y_max, 0.7, 1e-12);
  EXPECT_NEAR(ax.Y(0), ax.top + ax.height, 1e-9);
}

TEST(SvgPlot, DrawsEverySeries) {
  const std::string svg = RenderSvg(TwoCurves());
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(Count(svg, "<polyline"), 2);
  EXPECT_EQ(Count(svg, "<circle"), 3 + 1);  // three points + the legend's sample
  EXPECT_EQ(Count(svg, "width=\"9\" height=\"9\""), 2 + 1);
  EXPECT_EQ(Count(svg, "stroke-dasharray=\"1,3\""), 2);  // the curve and its legend sample
  EXPECT_NE(svg.find(">measured</text>"), std::string::npos);
  EXPECT_NE(svg.find(">theory</text>"), std::string::npos);
  EXPECT_NE(svg.find(">reference</text>"), std::string::npos);
  // The reference line spans the frame at y = 3.
  const Axes ax = Layout(TwoCurves());
  char want[128];
  std::snprintf(want, sizeof want,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"", ax.left,
                ax.Y(3), ax.left + ax.width, ax.Y(3));
  EXPECT_NE(svg.find(want), std::string::npos) << want;
  // Same plot, same bytes.
  EXPECT_EQ(svg, RenderSvg(TwoCurves()));
}

TEST(SvgPlot, NonPositiveValuesAreLeftOutOfALogPlot) {
  Plot p = TwoCurves();
  p.series[0].y = {10, 0, 0.12};
  const std::string svg = RenderSvg(p);
  EXPECT_EQ(Count(svg, "<circle"), 2 + 1);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(SvgPlot, TextIsEscaped) {
  Plot p = TwoCurves();
  p.title = "a < b & \"c\"";
  p.series[0].label = "<x>";
  const std::string svg = RenderSvg(p);
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("&lt;x&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
}

// The canvas grows to hold the legend: every label's estimated extent (0.6 em per
// character) lies inside it, however long the labels and notes.
TEST(SvgPlot, LegendAndNotesInsideTheCanvas) {
  Plot p = TwoCurves();
  p.series[2].label = std::string(80, 'w');
  p.notes = {"a note", std::string(70, 'n'), "x", "y", "z", "1", "2", "3", "4", "5", "6", "7"};
  const std::string svg = RenderSvg(p);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex(R"re(width="([0-9.]+)" height="([0-9.]+)")re")));
  const double w = std::stod(m[1]), h = std::stod(m[2]);
  const std::regex text(
      R"re(<text x="([0-9.]+)" y="([0-9.]+)" font-size="([0-9.]+)"([^>]*)>([^<]*)</text>)re");
  int n = 0;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), text); it != std::sregex_iterator();
       ++it, ++n) {
    const double x = std::stod((*it)[1]), y = std::stod((*it)[2]), size = std::stod((*it)[3]);
    const std::string attrs = (*it)[4], label = (*it)[5];
    const double len = 0.6 * size * static_cast<double>(label.size());
    double right = x + len;
    if (attrs.find("text-anchor=\"middle\"") != std::string::npos) right = x + len / 2;
    if (attrs.find("text-anchor=\"end\"") != std::string::npos) right = x;
    EXPECT_LE(right, w) << label;
    EXPECT_LE(y, h) << label;
  }
  EXPECT_GT(n, 15);
}

}  // namespace
}  // namespace lmul::plot
