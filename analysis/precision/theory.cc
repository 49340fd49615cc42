// Uniform-mantissa theory: exact cell sums and the continuous limit
// (derivation: docs/precision.md §3).
#include "analysis/precision/theory.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

namespace lmul::precision {

std::optional<TheoryModel> TheoryModelFor(const Arith& arith) {
  TheoryModel m;
  m.k = arith.format.man_bits;
  m.reduction = arith.reduce;
  m.reduce = m.k < 23;
  if (m.reduce && m.k > kMaxCellBits) return std::nullopt;
  switch (arith.op) {
    case Op::kLMul:
      m.kind = TheoryModel::Kind::kAddFields;
      m.offset = std::ldexp(1.0, -LMulOffsetShift(m.k));
      return m;
    case Op::kMitchell:
      m.kind = TheoryModel::Kind::kAddFields;
      m.offset = 0;
      return m;
    case Op::kExact:
      if (!m.reduce) return std::nullopt;  // exact/fp32: only the product's fp32 rounding
      m.kind = arith.wide ? TheoryModel::Kind::kExactWide : TheoryModel::Kind::kExact;
      return m;
  }
  return std::nullopt;
}

namespace {

// v (> 0) rounded to k mantissa bits, ties to even (the default FP environment
// rounds nearbyint to nearest-even; v·2^(k-e) is exact).
double RoundToBits(double v, int k) {
  const int e = std::ilogb(v);
  return std::ldexp(std::nearbyint(std::ldexp(v, k - e)), e - k);
}

}  // namespace

double CellValue(const TheoryModel& m, double fa, int ca, double fb, int cb) {
  const double scale = std::ldexp(1.0, ca + cb);
  switch (m.kind) {
    case TheoryModel::Kind::kAddFields: {
      const double t = fa + fb + m.offset;
      const double c = std::floor(t);  // 0, 1 or 2 carries into the exponent
      return scale * std::ldexp(1 + t - c, static_cast<int>(c));
    }
    case TheoryModel::Kind::kExactWide:
      return scale * (1 + fa) * (1 + fb);
    case TheoryModel::Kind::kExact:
      return scale * RoundToBits((1 + fa) * (1 + fb), m.k);
  }
  return 0;
}

namespace {

// One operand cell: a in [lo, hi) reduces to fraction f with carry c.
struct OperandCell {
  double lo, hi, f;
  int carry;
};

std::vector<OperandCell> OperandCells(int k, Rounding r) {
  const double h = std::ldexp(1.0, -k);
  const int n = 1 << k;
  std::vector<OperandCell> cells;
  if (r == Rounding::kTrunc) {
    for (int i = 0; i < n; ++i) cells.push_back({i * h, (i + 1) * h, i * h, 0});
  } else {
    cells.push_back({0, h / 2, 0, 0});
    for (int i = 1; i < n; ++i) cells.push_back({(i - 0.5) * h, (i + 0.5) * h, i * h, 0});
    cells.push_back({1 - h / 2, 1, 0, 1});  // rounds up to 2 = 1.0·2^1
  }
  return cells;
}

// Integrals of e = V/(uv) − 1 over the rectangle [u0,u1]×[v0,v1].
struct RectIntegrals {
  double signed_, abs, sq, max_abs;
};

RectIntegrals Rect(double V, double u0, double u1, double v0, double v1) {
  const double du = u1 - u0, dv = v1 - v0;
  const double lu = std::log1p(du / u0), lv = std::log1p(dv / v0);
  RectIntegrals r;
  r.signed_ = V * lu * lv - du * dv;
  r.sq = V * V * (du / (u0 * u1)) * (dv / (v0 * v1)) - 2 * V * lu * lv + du * dv;
  // G = ∫∫_{uv > V} (1 − V/(uv)): for fixed u the region is v in (max(v0, V/u), v1].
  double g = 0;
  const double p = V / v1, q = V / v0;  // u <= p: empty; p < u < q: partial; u >= q: full
  {
    const double A = std::max(u0, p), B = std::min(u1, q);
    if (A < B) {  // ∫ [v1 − V/u − (V/u)·ln(v1·u/V)] du
      const double sa = std::log(v1 * A / V), sb = std::log(v1 * B / V);
      g += v1 * (B - A) - V * std::log(B / A) - V * 0.5 * (sb - sa) * (sb + sa);
    }
  }
  {
    const double C = std::max(u0, q), D = u1;
    if (C < D) g += dv * (D - C) - V * lv * std::log(D / C);
  }
  r.abs = r.signed_ + 2 * g;
  r.max_abs = std::max(std::fabs(V / (u0 * v0) - 1), std::fabs(V / (u1 * v1) - 1));
  return r;
}

TheoryStats CellSum(const TheoryModel& m) {
  const std::vector<OperandCell> cells = OperandCells(m.k, m.reduction);
  long double s = 0, a = 0, q = 0;
  double mx = 0;
  for (const OperandCell& x : cells) {
    long double rs = 0, ra = 0, rq = 0;
    for (const OperandCell& y : cells) {
      const double V = CellValue(m, x.f, x.carry, y.f, y.carry);
      const RectIntegrals r = Rect(V, 1 + x.lo, 1 + x.hi, 1 + y.lo, 1 + y.hi);
      rs += r.signed_;
      ra += r.abs;
      rq += r.sq;
      mx = std::max(mx, r.max_abs);
    }
    s += rs;
    a += ra;
    q += rq;
  }
  return {static_cast<double>(a), static_cast<double>(s), std::sqrt(static_cast<double>(q)), mx};
}

// ---- Continuous operands (no reduction), add-fields only ----

// ∫_{u0}^{u1} of A/u + B, |A/u + B|, (A/u + B)²; A/u + B is monotone in u.
void InnerPiece(double A, double B, double u0, double u1, double* s, double* ab, double* sq,
                double* mx) {
  if (!(u0 < u1)) return;
  auto prim = [&](double lo, double hi) { return A * std::log(hi / lo) + B * (hi - lo); };
  *s += prim(u0, u1);
  *sq += A * A * (1 / u0 - 1 / u1) + 2 * A * B * std::log(u1 / u0) + B * B * (u1 - u0);
  double root = B != 0 ? -A / B : -1;
  if (root > u0 && root < u1) {
    *ab += std::fabs(prim(u0, root)) + std::fabs(prim(root, u1));
  } else {
    *ab += std::fabs(prim(u0, u1));
  }
  *mx = std::max({*mx, std::fabs(A / u0 + B), std::fabs(A / u1 + B)});
}

// Inner integrals over b in [0, 1) for a fixed a.
void InnerContinuous(double a, double c, double* s, double* ab, double* sq, double* mx) {
  *s = *ab = *sq = *mx = 0;
  // Pieces of b by the number of carries: t = a + b + c in [0,1), [1,2), [2,3).
  const double b1 = 1 - c - a, b2 = 2 - c - a;
  const std::array<double, 4> edges = {0, std::clamp(b1, 0.0, 1.0), std::clamp(b2, 0.0, 1.0), 1};
  for (int piece = 0; piece < 3; ++piece) {
    // L = alpha + beta·b on the piece; e = L/((1+a)(1+b)) − 1 = A/u + B with u = 1 + b.
    const double scale = std::ldexp(1.0, piece);       // 2^floor(t)
    const double alpha = scale * (1 + a + c - piece);  // (1 + t − piece)·2^piece at b = 0
    const double beta = scale;
    const double A = (alpha - beta) / (1 + a), B = beta / (1 + a) - 1;
    InnerPiece(A, B, 1 + edges[piece], 1 + edges[piece + 1], s, ab, sq, mx);
  }
}

TheoryStats Continuous(const TheoryModel& m) {
  // 8-point Gauss–Legendre on [-1, 1].
  static constexpr std::array<double, 4> kX = {0.1834346424956498, 0.5255324099163290,
                                               0.7966664774136267, 0.9602898564975363};
  static constexpr std::array<double, 4> kW = {0.3626837833783620, 0.3137066458778873,
                                               0.2223810344533745, 0.1012285362903763};
  const double c = m.offset;
  std::vector<double> breaks = {0, 1};
  for (double br : {1 - c, 2 - c - 1}) {  // a where a piece edge in b leaves [0, 1]
    if (br > 0 && br < 1) breaks.push_back(br);
  }
  std::sort(breaks.begin(), breaks.end());
  constexpr int kPanels = 4096;
  long double S = 0, A = 0, Q = 0;
  double MX = 0;
  for (size_t seg = 0; seg + 1 < breaks.size(); ++seg) {
    const double lo = breaks[seg], hi = breaks[seg + 1];
    if (!(lo < hi)) continue;
    const double w = (hi - lo) / kPanels;
    for (int p = 0; p < kPanels; ++p) {
      const double mid = lo + (p + 0.5) * w;
      for (int i = 0; i < 8; ++i) {
        const double xi = (i < 4 ? -kX[i] : kX[i - 4]) * w / 2;
        const double wi = (i < 4 ? kW[i] : kW[i - 4]) * w / 2;
        double s, ab, sq, mx;
        InnerContinuous(mid + xi, c, &s, &ab, &sq, &mx);
        S += wi * s;
        A += wi * ab;
        Q += wi * sq;
        MX = std::max(MX, mx);
      }
    }
  }
  return {static_cast<double>(A), static_cast<double>(S), std::sqrt(static_cast<double>(Q)), MX};
}

}  // namespace

TheoryStats UniformMantissaTheory(const TheoryModel& m) {
  if (!m.reduce) return Continuous(m);
  return CellSum(m);
}

}  // namespace lmul::precision
