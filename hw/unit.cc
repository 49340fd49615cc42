#include "hw/unit.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>

#include "hw/rtl.h"

namespace lmul::hw {
namespace {

std::string Hex(uint32_t v, int width_bits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*" PRIX32, (width_bits + 3) / 4, v);
  return buf;
}

bool ValidIdentifier(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// Exponent of the lowest significand bit of the smallest subnormal, and of
// the top of the largest finite value (value < 2^top).
int LsbMin(const Format& f) { return 1 - f.bias - f.man_bits; }
int TopMax(const Format& f) { return f.MaxExp() - f.bias + 1; }

// p embeds exactly in a: every value of p is a value of a.
bool Embeds(const Format& p, const Format& a) {
  return p.man_bits <= a.man_bits && LsbMin(p) >= LsbMin(a) && TopMax(p) <= TopMax(a);
}

// acc + p rounded once to the accumulator format (fp32 add, then to A; see unit.h).
uint32_t AddRef(const Format& acc, uint32_t acc_code, float p) {
  const float x = Decode(acc, acc_code);
  const float s = x + p;
  return Encode(acc, s, Rounding::kRne);
}

int BitWidth(long v) {
  int b = 0;
  while (v > 0) {
    ++b;
    v >>= 1;
  }
  return b;
}

// Widths of the generated datapath.
struct Widths {
  int wp, wa, ma, mp;  // operand width, acc width, mantissa bits
  int xw, yw;          // significand widths of the adder's x (acc) and y (product) operands
  int frame;           // W: aligned frame width
  int ew;              // signed exponent width
  int fw;              // field width
};

Widths WidthsOf(const UnitSpec& s) {
  Widths w;
  const Format& p = s.arith.format;
  w.wp = p.Width();
  w.wa = s.acc.Width();
  w.ma = s.acc.man_bits;
  w.mp = p.man_bits;
  w.xw = w.ma + 1;
  w.yw = s.fused ? 2 * (w.mp + 1) : w.ma + 1;
  // Frame: wide enough that the operand with the higher top is never truncated
  // and, when the other one loses bits into the sticky, the result's ulp lies at
  // least 2 bits above the sticky. `lz`: most leading zeros of a y significand
  // (unrounded products of subnormals; subnormal exact product codes); a
  // subnormal accumulator is rounded at its fixed quantum, above the frame.
  const int lz = s.fused ? w.yw - 1 : (s.arith.op == Op::kExact ? w.mp : 0);
  w.frame = std::max(w.xw, w.yw) + lz + 4;
  // Bound on every intermediate exponent (lsb exponents, tops, frame, biased
  // exponents, shift counts), with margin.
  const long lo = std::max(std::abs(s.fused ? 2 * LsbMin(p) : LsbMin(p)), std::abs(LsbMin(s.acc)));
  const long hi = std::max(s.fused ? 2 * TopMax(p) : TopMax(p), TopMax(s.acc));
  const long bound = std::max(lo, hi) + 2L * w.frame + 2L * s.acc.bias + 64;
  w.ew = BitWidth(bound) + 2;
  w.fw = w.ew + w.ma + 2;
  return w;
}

// Wires unpacking a code of `f` into {n, i, s, e, m} with prefix `p`: value =
// (-1)^s * m * 2^e (m of width `sw` >= man_bits + 1, the significand at its top).
void Unpack(std::ostringstream& v, const Format& f, const std::string& code, const std::string& p,
            int sw, int ew) {
  const int e = f.exp_bits, m = f.man_bits, n = e + m;
  v << "  wire [" << n << ":0] " << p << "_c = " << code << ";\n"
    << "  wire [" << e - 1 << ":0] " << p << "_ef = " << p << "_c[" << n - 1 << ":" << m << "];\n"
    << "  wire [" << m - 1 << ":0] " << p << "_mf = " << p << "_c[" << m - 1 << ":0];\n"
    << "  wire " << p << "_s = " << p << "_c[" << n << "];\n";
  if (f.has_inf) {
    v << "  wire " << p << "_n = (&" << p << "_ef) && (" << p << "_mf != 0);\n"
      << "  wire " << p << "_i = (&" << p << "_ef) && (" << p << "_mf == 0);\n";
  } else {
    v << "  wire " << p << "_n = &" << p << "_c[" << n - 1 << ":0];\n"
      << "  wire " << p << "_i = 1'b0;\n";
  }
  // Left-aligned in sw bits (the adder takes e + sw as the operand's top).
  const int pad = sw - (m + 1);
  v << "  wire [" << sw - 1 << ":0] " << p << "_m = {" << p << "_ef != 0, " << p << "_mf"
    << (pad > 0 ? ", " + std::to_string(pad) + "'b0" : std::string()) << "};\n"
    << "  wire signed [" << ew - 1 << ":0] " << p << "_e = (" << p << "_ef == 0) ? "
    << (1 - f.bias - m - pad) << " : $signed({1'b0, " << p << "_ef}) - " << (f.bias + m + pad)
    << ";\n";
}

// The adder: x (acc operand, significand xw bits) + y (yw bits), rounded once
// to the accumulator format (see the header comment in the output).
std::string AdderModule(const UnitSpec& s, const Widths& w, const std::string& name) {
  const Format& a = s.acc;
  const int W = w.frame, ew = w.ew, ma = w.ma, bias = a.bias;
  const int qw = std::max(W + 2, ma + 2);
  std::ostringstream v;
  v << "// " << name << ": r = x + y rounded once to " << a.Name()
    << " (nearest even, gradual underflow, overflow to Inf).\n"
    << "// Operands unpacked: value = (-1)^s * m * 2^e; n = NaN, i = Inf. Both are aligned in a\n"
    << "// frame of " << W << " bits below the higher top (e + width) with a sticky bit below it;\n"
    << "// the sum is normalised (leading-one search) and rounded to the format's quantum.\n"
    << "module " << name << " (\n"
    << "    input xn, input xi, input xs, input signed [" << ew - 1 << ":0] xe, input [" << w.xw - 1
    << ":0] xm,\n"
    << "    input yn, input yi, input ys, input signed [" << ew - 1 << ":0] ye, input [" << w.yw - 1
    << ":0] ym,\n"
    << "    output reg [" << w.wa - 1 << ":0] r\n"
    << ");\n"
    << "  reg signed [" << ew - 1 << ":0] tx, ty, f, dx, dy, er, qe, sh, eb;\n"
    << "  reg [" << W - 1 << ":0] ax, ay;\n"
    << "  reg [" << w.xw - 1 << ":0] rx;\n"
    << "  reg [" << w.yw - 1 << ":0] ry;\n"
    << "  reg [" << W + 1 << ":0] sum, t, u;\n"
    << "  reg [" << qw - 1 << ":0] q;\n"
    << "  reg [" << w.fw - 1 << ":0] field;\n"
    << "  reg stx, sty, sg, g, st, xz, yz;\n"
    << "  integer i, lead;\n"
    << "  always @* begin\n"
    << "    rx = 0;\n"
    << "    ry = 0;\n"
    << "    t = 0;\n"
    << "    u = 0;\n"
    << "    xz = (xm == 0);\n"
    << "    yz = (ym == 0);\n"
    << "    tx = xe + " << w.xw << ";\n"
    << "    ty = ye + " << w.yw << ";\n"
    << "    f = ((xz || (!yz && ty > tx)) ? ty : tx) - " << W << ";\n"
    << "    dx = xe - f;\n"
    << "    dy = ye - f;\n";
  auto align = [&](const char* o, int width) {
    v << "    if (" << o << "z) begin a" << o << " = 0; st" << o << " = 1'b0; end\n"
      << "    else if (d" << o << " >= 0) begin a" << o << " = " << o << "m << d" << o << "; st"
      << o << " = 1'b0; end\n"
      << "    else if (d" << o << " <= -" << width << ") begin a" << o << " = 0; st" << o
      << " = 1'b1; end\n"
      << "    else begin\n"
      << "      a" << o << " = " << o << "m >> (-d" << o << ");\n"
      << "      r" << o << " = " << o << "m << (" << width << " + d" << o << ");\n"
      << "      st" << o << " = (r" << o << " != 0);\n"
      << "    end\n";
  };
  align("x", w.xw);
  align("y", w.yw);
  v << "    if (xs == ys) begin sum = {1'b0, ax, stx} + {1'b0, ay, sty}; sg = xs; end\n"
    << "    else if ({ax, stx} >= {ay, sty}) begin sum = {1'b0, ax, stx} - {1'b0, ay, sty}; sg = "
       "xs; end\n"
    << "    else begin sum = {1'b0, ay, sty} - {1'b0, ax, stx}; sg = ys; end\n"
    << "    // sum * 2^(f-1) is the exact sum (up to the sticky bit)\n"
    << "    lead = 0;\n"
    << "    for (i = 0; i < " << W + 2 << "; i = i + 1) if (sum[i]) lead = i;\n"
    << "    er = lead + f - 1 + " << bias << ";  // biased exponent of the leading one\n"
    << "    qe = (er >= 1) ? lead + f - 1 - " << ma << " : " << (1 - bias - ma)
    << ";  // exponent of the result's ulp\n"
    << "    sh = qe - (f - 1);  // low bits of sum dropped\n"
    << "    g = 1'b0;\n"
    << "    st = 1'b0;\n"
    << "    if (sh <= 0) q = sum << (-sh);\n"
    << "    else if (sh > " << W + 2 << ") begin q = 0; st = (sum != 0); end\n"
    << "    else begin\n"
    << "      q = sum >> sh;\n"
    << "      u = sum >> (sh - 1);\n"
    << "      g = u[0];\n"
    << "      t = sum << (" << W + 3 << " - sh);\n"
    << "      st = (t != 0);\n"
    << "    end\n"
    << "    q = q + (g && (st || q[0]));\n"
    << "    eb = (er >= 1) ? er - 1 : 0;\n"
    << "    field = eb;\n"
    << "    field = (field << " << ma << ") + q;\n"
    << "    if (xn || yn || (xi && yi && (xs != ys))) r = " << w.wa << "'h"
    << Hex(a.NanField(), w.wa) << ";\n"
    << "    else if (xi) r = {xs, " << w.wa - 1 << "'h" << Hex(a.InfField(), w.wa - 1) << "};\n"
    << "    else if (yi) r = {ys, " << w.wa - 1 << "'h" << Hex(a.InfField(), w.wa - 1) << "};\n"
    << "    else if (sum == 0) r = {xz && yz && xs && ys, " << w.wa - 1 << "'h0};\n"
    << "    else if (field > " << a.MaxFiniteField() << ") r = {sg, " << w.wa - 1 << "'h"
    << Hex(a.InfField(), w.wa - 1) << "};\n"
    << "    else r = {sg, field[" << w.wa - 2 << ":0]};\n"
    << "  end\n"
    << "endmodule\n";
  return v.str();
}

// One logical signal of the datapath: a set of wires (suffix, width, signed).
struct Part {
  std::string suffix;
  int width;
  bool is_signed;
};

struct LevelOp {
  std::vector<std::string> inputs;  // logical signal names
  std::vector<std::string> outputs;
};

}  // namespace

std::string UnitSpec::Name() const {
  std::string n = kind == UnitKind::kMac ? "mac" : "dot" + std::to_string(lanes);
  n += " " + arith.Name() + (fused ? " fused" : "") + " acc=" + acc.Name();
  if (kind == UnitKind::kDot) n += order == DotOrder::kTree ? " tree" : " seq";
  if (stages > 0) n += " stages=" + std::to_string(stages);
  return n;
}

Status CheckUnit(const UnitSpec& s) {
  LMUL_RETURN_IF_ERROR(CheckRtlArith(s.arith));
  const Format& a = s.acc;
  if (!(a == Format::Fp32() || a == Format::Bf16() || a == Format::Fp16())) {
    return MakeError("accumulator '" + a.Name() + "': expected fp32, bf16 or fp16");
  }
  if (s.lanes < 1 || s.lanes > 64) {
    return MakeError("lanes " + std::to_string(s.lanes) + ": expected 1..64");
  }
  if (s.kind == UnitKind::kMac && s.lanes != 1) {
    return MakeError("a MAC unit has one lane (got " + std::to_string(s.lanes) +
                     "); use --unit dot");
  }
  if (s.fused) {
    if (s.arith.op != Op::kExact) {
      return MakeError("--fused is for exact/ products (" + s.arith.Name() + " is approximate)");
    }
    if (!(a == Format::Fp32())) {
      return MakeError("--fused needs --acc fp32 (reference: std::fma on fp32); got " + a.Name());
    }
    if (s.order == DotOrder::kTree && s.lanes > 1) {
      return MakeError("--fused has no tree order (products are unrounded); use --order seq");
    }
  }
  if (!Embeds(s.arith.format, a)) {
    return MakeError("products of " + s.arith.format.Name() + " are not exactly representable in " +
                     a.Name() + " accumulators; use --acc fp32 (or a wider accumulator)");
  }
  if (s.stages < 0) return MakeError("stages must be >= 0");
  int levels = s.lanes;  // sequential adds
  if (s.order == DotOrder::kTree) {
    levels = 1;
    for (int n = s.lanes; n > 1; n = (n + 1) / 2) ++levels;
  }
  const int ops = 1 + levels;
  if (s.stages > ops) {
    return MakeError("stages " + std::to_string(s.stages) + ": this unit has " +
                     std::to_string(ops) + " operation levels (products + adders); use at most " +
                     std::to_string(ops));
  }
  return Status::Ok();
}

Result<UnitSpec> MakeUnitSpec(const std::string& unit, const std::string& arith,
                              const std::string& acc, int lanes, const std::string& order,
                              bool fused, int stages) {
  UnitSpec s;
  if (unit == "mac") {
    s.kind = UnitKind::kMac;
  } else if (unit == "dot") {
    s.kind = UnitKind::kDot;
  } else {
    return MakeError("unit '" + unit + "': expected mac or dot");
  }
  auto ar = Arith::Parse(arith);
  if (!ar.ok()) return MakeError(ar.error());
  s.arith = *ar;
  auto af = Format::Parse(acc);
  if (!af.ok()) return MakeError("accumulator: " + af.error());
  s.acc = *af;
  if (order == "seq") {
    s.order = DotOrder::kSequential;
  } else if (order == "tree") {
    s.order = DotOrder::kTree;
  } else {
    return MakeError("order '" + order + "': expected seq or tree");
  }
  s.lanes = lanes;
  s.fused = fused;
  s.stages = stages;
  LMUL_RETURN_IF_ERROR(CheckUnit(s));
  return s;
}

bool SameResult(const Format& acc, uint32_t x, uint32_t y) {
  if (acc.IsNan(y)) return acc.IsNan(x);
  return x == y;
}

uint32_t UnitReference(const UnitSpec& s, const uint32_t* a, const uint32_t* b, uint32_t acc_in) {
  const Format& pf = s.arith.format;
  if (s.fused) {
    float acc = Decode(s.acc, acc_in);
    for (int k = 0; k < s.lanes; ++k) acc = std::fma(Decode(pf, a[k]), Decode(pf, b[k]), acc);
    return FloatBits(acc);
  }
  std::vector<float> p(s.lanes);
  for (int k = 0; k < s.lanes; ++k)
    p[k] = Decode(s.arith.OutputFormat(), s.arith.MulCodes(a[k], b[k]));
  if (s.order == DotOrder::kSequential || s.lanes == 1) {
    uint32_t acc = acc_in;
    for (int k = 0; k < s.lanes; ++k) acc = AddRef(s.acc, acc, p[k]);
    return acc;
  }
  // Tree: level by level, pairs (2i, 2i+1), an odd last element moves up.
  std::vector<uint32_t> l(s.lanes);
  for (int k = 0; k < s.lanes; ++k) l[k] = Encode(s.acc, p[k], Rounding::kRne);  // exact
  while (l.size() > 1) {
    std::vector<uint32_t> next;
    for (size_t i = 0; i + 1 < l.size(); i += 2)
      next.push_back(AddRef(s.acc, l[i], Decode(s.acc, l[i + 1])));
    if (l.size() % 2) next.push_back(l.back());
    l.swap(next);
  }
  return AddRef(s.acc, acc_in, Decode(s.acc, l[0]));
}

Result<std::string> GenerateUnitRtl(const UnitSpec& s, const std::string& name) {
  if (!ValidIdentifier(name)) {
    return MakeError("module name '" + name +
                     "' is not a Verilog identifier (letters, digits, _; not starting with a "
                     "digit)");
  }
  LMUL_RETURN_IF_ERROR(CheckUnit(s));
  const Widths w = WidthsOf(s);
  const Format& pf = s.arith.format;
  const int n = s.lanes;
  std::ostringstream v;
  v << "// Generated by lmul rtl (lmul " << LMUL_VERSION_STRING << "): " << s.Name() << "\n"
    << "// Reference: lmul::hw::UnitReference (hw/unit.h); docs/energy.md.\n";
  if (!s.fused) {
    auto mul = GenerateRtl(s.arith, name + "_mul");
    if (!mul.ok()) return MakeError(mul.error());
    v << *mul << "\n";
  }
  v << AdderModule(s, w, name + "_add") << "\n";

  // Logical signals and their parts.
  std::map<std::string, std::vector<Part>> parts;
  const std::vector<Part> code_a = {{"", w.wa, false}};
  const std::vector<Part> prod = s.fused ? std::vector<Part>{{"_n", 1, false},
                                                             {"_i", 1, false},
                                                             {"_s", 1, false},
                                                             {"_e", w.ew, true},
                                                             {"_m", w.yw, false}}
                                         : std::vector<Part>{{"", w.wp, false}};
  parts["acc_in"] = code_a;
  std::vector<LevelOp> ops;
  // op 0: the products
  {
    LevelOp o;
    for (int k = 0; k < n; ++k) {
      o.outputs.push_back("p" + std::to_string(k));
      parts["p" + std::to_string(k)] = prod;
    }
    ops.push_back(o);
  }
  std::string final_sig;
  std::vector<std::vector<std::array<std::string, 3>>> adds(1);
  if (s.order == DotOrder::kSequential || n == 1) {
    std::string acc = "acc_in";
    for (int k = 0; k < n; ++k) {
      const std::string out = "s" + std::to_string(k);
      parts[out] = code_a;
      ops.push_back({{acc, "p" + std::to_string(k)}, {out}});
      adds.push_back({{acc, "p" + std::to_string(k), out}});
      acc = out;
    }
    final_sig = acc;
  } else {
    std::vector<std::string> l;
    for (int k = 0; k < n; ++k) l.push_back("p" + std::to_string(k));
    int level = 0;
    while (l.size() > 1) {
      LevelOp o;
      std::vector<std::array<std::string, 3>> ad;
      std::vector<std::string> next;
      for (size_t i = 0; i + 1 < l.size(); i += 2) {
        const std::string out = "t" + std::to_string(level) + "_" + std::to_string(i / 2);
        parts[out] = code_a;
        o.inputs.push_back(l[i]);
        o.inputs.push_back(l[i + 1]);
        o.outputs.push_back(out);
        ad.push_back({l[i], l[i + 1], out});
        next.push_back(out);
      }
      if (l.size() % 2) next.push_back(l.back());  // moves up unchanged
      ops.push_back(o);
      adds.push_back(ad);
      l.swap(next);
      ++level;
    }
    ops.push_back({{"acc_in", l[0]}, {"sum"}});
    adds.push_back({{"acc_in", l[0], "sum"}});
    parts["sum"] = code_a;
    final_sig = "sum";
  }
  const int n_ops = static_cast<int>(ops.size());
  // Last op using each signal (the output counts as op n_ops).
  std::map<std::string, int> last_use;
  for (int j = 0; j < n_ops; ++j) {
    for (const auto& a : adds[j]) {
      last_use[a[0]] = std::max(last_use[a[0]], j);
      last_use[a[1]] = std::max(last_use[a[1]], j);
    }
  }
  last_use[final_sig] = n_ops;
  std::map<std::string, int> defined_at;  // op index (-1: module input)
  defined_at["acc_in"] = -1;
  for (int j = 0; j < n_ops; ++j) {
    for (const auto& o : ops[j].outputs) defined_at[o] = j;
  }
  // Register boundaries: after op ceil(j * n_ops / S) - 1, j = 1..S.
  std::vector<bool> reg_after(n_ops, false);
  for (int j = 1; j <= s.stages; ++j) reg_after[(j * n_ops + s.stages - 1) / s.stages - 1] = true;

  const int wp = w.wp, wa = w.wa;
  v << "// " << s.Name() << ": acc_out = ";
  if (s.order == DotOrder::kSequential || n == 1) {
    v << "((acc_in + p0) + p1) + ... in lane order";
  } else {
    v << "acc_in + pairwise tree of the products";
  }
  v << ", every add rounded to " << s.acc.Name() << ".\n";
  if (s.stages > 0) {
    v << "// Pipelined: " << s.stages << " register ranks; latency " << s.stages
      << " cycles (inputs before clock edge t, result after edge t+" << s.stages - 1
      << "), one result per cycle.\n";
  } else {
    v << "// Combinational.\n";
  }
  v << "module " << name << " (\n";
  if (s.stages > 0) v << "    input clk,\n";
  v << "    input [" << n * wp - 1 << ":0] a,\n"
    << "    input [" << n * wp - 1 << ":0] b,\n"
    << "    input [" << wa - 1 << ":0] acc_in,\n"
    << "    output [" << wa - 1 << ":0] acc_out\n"
    << ");\n";
  std::map<std::string, std::string> cur;  // logical -> current wire prefix
  cur["acc_in"] = "acc_in";
  auto wire_of = [&](const std::string& sig, const std::string& suffix) {
    return cur.at(sig) + suffix;
  };
  auto unpack_operand = [&](const std::string& sig, const std::string& prefix, int sw) {
    // an acc code, a product code, or (fused) an unpacked product.
    if (s.fused && sig[0] == 'p') return std::string(cur.at(sig));
    const Format& f = (sig[0] == 'p') ? pf : s.acc;
    Unpack(v, f, wire_of(sig, ""), prefix, sw, w.ew);
    return prefix;
  };
  for (int j = 0; j < n_ops; ++j) {
    if (j == 0) {
      for (int k = 0; k < n; ++k) {
        const std::string pk = "p" + std::to_string(k);
        const std::string ak = "a[" + std::to_string(k * wp) + " +: " + std::to_string(wp) + "]";
        const std::string bk = "b[" + std::to_string(k * wp) + " +: " + std::to_string(wp) + "]";
        if (!s.fused) {
          v << "  wire [" << wp - 1 << ":0] " << pk << ";\n"
            << "  " << name << "_mul u_mul" << k << " (.a(" << ak << "), .b(" << bk << "), .y("
            << pk << "));\n";
        } else {
          Unpack(v, pf, ak, "fa" + std::to_string(k), pf.man_bits + 1, w.ew);
          Unpack(v, pf, bk, "fb" + std::to_string(k), pf.man_bits + 1, w.ew);
          const std::string fa = "fa" + std::to_string(k), fb = "fb" + std::to_string(k);
          const std::string az = "(" + fa + "_c[" + std::to_string(wp - 2) + ":0] == 0)";
          const std::string bz = "(" + fb + "_c[" + std::to_string(wp - 2) + ":0] == 0)";
          v << "  // exact product, unrounded\n"
            << "  wire " << pk << "_n = " << fa << "_n | " << fb << "_n | (" << fa << "_i & " << bz
            << ") | (" << fb << "_i & " << az << ");\n"
            << "  wire " << pk << "_i = (" << fa << "_i | " << fb << "_i) & !" << pk << "_n;\n"
            << "  wire " << pk << "_s = " << fa << "_s ^ " << fb << "_s;\n"
            << "  wire signed [" << w.ew - 1 << ":0] " << pk << "_e = " << fa << "_e + " << fb
            << "_e;\n"
            << "  wire [" << w.yw - 1 << ":0] " << pk << "_m = " << fa << "_m * " << fb << "_m;\n";
        }
        cur[pk] = pk;
      }
    } else {
      for (const auto& a : adds[j]) {
        const std::string out = a[2];
        const std::string xp = unpack_operand(a[0], "ux_" + out, w.xw);
        const std::string yp = unpack_operand(a[1], "uy_" + out, w.yw);
        v << "  wire [" << wa - 1 << ":0] " << out << ";\n"
          << "  " << name << "_add u_" << out << " (.xn(" << xp << "_n), .xi(" << xp << "_i), .xs("
          << xp << "_s), .xe(" << xp << "_e), .xm(" << xp << "_m), .yn(" << yp << "_n), .yi(" << yp
          << "_i), .ys(" << yp << "_s), .ye(" << yp << "_e), .ym(" << yp << "_m), .r(" << out
          << "));\n";
        cur[out] = out;
      }
    }
    if (reg_after[j]) {
      v << "  // register rank after level " << j << "\n";
      for (const auto& [sig, prefix] : std::map<std::string, std::string>(cur)) {
        if (defined_at.at(sig) > j || last_use[sig] <= j) continue;
        const std::string r = sig + "_r" + std::to_string(j);
        for (const Part& p : parts.at(sig)) {
          v << "  reg " << (p.is_signed ? "signed " : "") << "[" << p.width - 1 << ":0] " << r
            << p.suffix << ";\n"
            << "  always @(posedge clk) " << r << p.suffix << " <= " << prefix << p.suffix << ";\n";
        }
        cur[sig] = r;
      }
    }
  }
  v << "  assign acc_out = " << cur.at(final_sig) << ";\n"
    << "endmodule\n";
  return v.str();
}

std::vector<uint32_t> AccTestValues(const Format& acc) {
  auto enc = [&](float x) { return Encode(acc, x, Rounding::kRne); };
  return {enc(0.0f),
          enc(-0.0f),
          enc(1.0f),
          enc(-1.0f),
          acc.InfField(),
          acc.InfField() | acc.SignBit(),
          acc.NanField(),
          acc.MaxFiniteField(),
          acc.MaxFiniteField() | acc.SignBit(),
          1u,
          enc(0.3f),
          enc(-2.75f),
          enc(448.0f),
          enc(-0.0078125f),
          enc(1.0e-3f),
          enc(-96.5f)};
}

namespace {

uint32_t RandomCode(const Format& f, std::mt19937_64& rng, const std::vector<uint32_t>& sp) {
  const uint32_t mask = f.Width() >= 32 ? 0xFFFFFFFFu : ((1u << f.Width()) - 1);
  const int r = static_cast<int>(rng() % 8);
  if (r < 2) return sp[rng() % sp.size()];
  if (r < 5) return static_cast<uint32_t>(rng()) & mask;
  // Near one: exponent within bias +- 6, so products and sums stay ordinary.
  const int e = std::clamp(f.bias + static_cast<int>(rng() % 13) - 6, 1, f.MaxExp());
  const uint32_t man = static_cast<uint32_t>(rng()) & ((1u << f.man_bits) - 1);
  const uint32_t sign = (rng() & 1) ? f.SignBit() : 0u;
  return sign | (static_cast<uint32_t>(e) << f.man_bits) | man;
}

}  // namespace

Result<std::vector<UnitVector>> MakeUnitVectors(const UnitSpec& s, bool exhaustive, uint64_t count,
                                                uint64_t seed, int n_acc) {
  LMUL_RETURN_IF_ERROR(CheckUnit(s));
  const Format& pf = s.arith.format;
  std::vector<UnitVector> out;
  if (exhaustive) {
    if (s.lanes != 1 || pf.Width() > 8) {
      return MakeError(
          "--exhaustive is for MAC units of 8-bit formats (every operand pair "
          "crossed with the accumulator test values); use --count N");
    }
    std::vector<uint32_t> accs = AccTestValues(s.acc);
    if (n_acc >= 0 && static_cast<size_t>(n_acc) < accs.size()) accs.resize(n_acc);
    out.reserve(accs.size() << 16);
    for (uint32_t acc : accs) {
      for (uint32_t a = 0; a < 256; ++a) {
        for (uint32_t b = 0; b < 256; ++b) {
          UnitVector u{{a}, {b}, acc, 0};
          u.y = UnitReference(s, &a, &b, acc);
          out.push_back(std::move(u));
        }
      }
    }
    return out;
  }
  std::mt19937_64 rng(seed);
  const std::vector<uint32_t> sp = SpecialCodes(pf);
  const std::vector<uint32_t> acc_sp = AccTestValues(s.acc);
  const uint32_t acc_mask = s.acc.Width() >= 32 ? 0xFFFFFFFFu : ((1u << s.acc.Width()) - 1);
  out.reserve(count);
  while (out.size() < count) {
    UnitVector u;
    u.a.resize(s.lanes);
    u.b.resize(s.lanes);
    for (int k = 0; k < s.lanes; ++k) {
      u.a[k] = RandomCode(pf, rng, sp);
      u.b[k] = RandomCode(pf, rng, sp);
    }
    if (rng() % 4 == 0) {  // exact cancellation: p(2i+1) = -p(2i)
      for (int k = 0; k + 1 < s.lanes; k += 2) {
        u.a[k + 1] = u.a[k] ^ pf.SignBit();
        u.b[k + 1] = u.b[k];
      }
    }
    const int r = static_cast<int>(rng() % 4);
    if (r == 0) {
      u.acc = acc_sp[rng() % acc_sp.size()];
    } else if (r == 1) {
      u.acc = static_cast<uint32_t>(rng()) & acc_mask;
    } else {  // the size of a product, either sign (cancellation with p0 possible)
      const float x = Decode(pf, RandomCode(pf, rng, sp)) * Decode(pf, RandomCode(pf, rng, sp));
      u.acc = Encode(s.acc, (rng() & 1) ? -x : x, Rounding::kRne);
      if (rng() % 4 == 0)
        u.acc = Encode(s.acc, -Decode(s.arith.OutputFormat(), s.arith.MulCodes(u.a[0], u.b[0])),
                       Rounding::kRne);
    }
    u.y = UnitReference(s, u.a.data(), u.b.data(), u.acc);
    out.push_back(std::move(u));
  }
  return out;
}

std::string FormatUnitVectors(const UnitSpec& s, const std::vector<UnitVector>& v,
                              const std::string& provenance) {
  const int wp = s.arith.format.Width(), wa = s.acc.Width();
  std::string out = "// lmul vectors (lmul " LMUL_VERSION_STRING "): " + s.Name() + ", " +
                    std::to_string(v.size()) + " vectors; " + provenance + "\n// columns: a[0.." +
                    std::to_string(s.lanes - 1) + "] b[0.." + std::to_string(s.lanes - 1) +
                    "] acc_in y (hex codes of " + s.arith.format.Name() + " / " + s.acc.Name() +
                    "), y = lmul::hw::UnitReference (NaN: any NaN)\n";
  for (const auto& u : v) {
    for (uint32_t x : u.a) (out += Hex(x, wp)) += ' ';
    for (uint32_t x : u.b) (out += Hex(x, wp)) += ' ';
    out += Hex(u.acc, wa);
    out += ' ';
    out += Hex(u.y, wa);
    out += '\n';
  }
  return out;
}

std::string UnitTestbench(const UnitSpec& s, const std::string& name, uint64_t count) {
  const int n = s.lanes, wp = s.arith.format.Width(), wa = s.acc.Width();
  const int per = 2 * n + 2, st = s.stages, ma = s.acc.man_bits;
  std::ostringstream t;
  t << "// Self-checking testbench for " << name << " (" << s.Name() << "), lmul "
    << LMUL_VERSION_STRING << ".\n"
    << "// Run: <simulator> +vectors=FILE (written by lmul vectors with the same options).\n"
    << "`timescale 1ns/1ps\n"
    << "module tb;\n"
    << "  reg [31:0] mem [0:" << count * per - 1 << "];\n"
    << "  reg [" << n * wp - 1 << ":0] a, b;\n"
    << "  reg [" << wa - 1 << ":0] acc_in, want;\n"
    << "  wire [" << wa - 1 << ":0] acc_out;\n"
    << "  reg [8*1024-1:0] file;\n"
    << "  integer i, j, bad;\n";
  if (st > 0) {
    t << "  reg clk;\n  " << name
      << " dut(.clk(clk), .a(a), .b(b), .acc_in(acc_in), .acc_out(acc_out));\n";
  } else {
    t << "  " << name << " dut(.a(a), .b(b), .acc_in(acc_in), .acc_out(acc_out));\n";
  }
  t << "  function is_nan(input [" << wa - 1 << ":0] x);\n"
    << "    is_nan = (&x[" << wa - 2 << ":" << ma << "]) && (x[" << ma - 1 << ":0] != 0);\n"
    << "  endfunction\n"
    << "  task check(input integer v);\n"
    << "    begin\n"
    << "      want = mem[v * " << per << " + " << per - 1 << "];\n"
    << "      if (is_nan(want) ? !is_nan(acc_out) : (acc_out !== want)) begin\n"
    << "        if (bad < 10) $display(\"MISMATCH vector %0d: got %h want %h\", v, acc_out, "
       "want);\n"
    << "        bad = bad + 1;\n"
    << "      end\n"
    << "    end\n"
    << "  endtask\n"
    << "  initial begin\n"
    << "    if (!$value$plusargs(\"vectors=%s\", file)) file = \"vectors.hex\";\n"
    << "    $readmemh(file, mem);\n"
    << "    bad = 0;\n"
    << (st > 0 ? "    clk = 0;\n" : "") << "    for (i = 0; i < " << count + (st > 0 ? st - 1 : 0)
    << "; i = i + 1) begin\n"
    << "      if (i < " << count << ") begin\n";
  // Each operand bus is written whole, as one concatenation of its lanes (lane 0 in the low
  // bits): Verilator 5.006 with --timing does not propagate writes to constant part-selects
  // a[..] of the bus into the DUT's lane port connections a[k*W +: W] (docs/energy.md 6.1).
  for (const char* bus : {"a", "b"}) {
    t << "        " << bus << " = {";
    for (int k = n - 1; k >= 0; --k) {
      t << "mem[i * " << per << " + " << (bus[0] == 'a' ? k : n + k) << "][" << wp - 1 << ":0]"
        << (k > 0 ? ", " : "");
    }
    t << "};\n";
  }
  t << "        acc_in = mem[i * " << per << " + " << 2 * n << "];\n"
    << "      end\n";
  if (st > 0) {
    t << "      #1 clk = 1;\n"
      << "      #1 clk = 0;\n"
      << "      j = i - " << st - 1 << ";\n"
      << "      if (j >= 0) check(j);\n";
  } else {
    t << "      #1 check(i);\n";
  }
  t << "    end\n"
    << "    $display(\"MISMATCHES %0d of " << count << "\", bad);\n"
    << "    $finish;\n"
    << "  end\n"
    << "endmodule\n";
  return t.str();
}

Result<PairError> MeanRelativeError(const Arith& arith) {
  const Format& f = arith.format;
  if (f.Width() != 8 || arith.wide) {
    return MakeError("mean relative error over all pairs is computed for 8-bit formats (got " +
                     arith.Name() + ")");
  }
  PairError r;
  const int m = f.man_bits;
  const double c = arith.op == Op::kLMul ? std::ldexp(1.0, -LMulOffsetShift(m)) : 0.0;
  for (int i = 0; i < (1 << m); ++i) {
    for (int j = 0; j < (1 << m); ++j) {
      const double x = std::ldexp(i, -m), y = std::ldexp(j, -m);
      const double ex = (1 + x) * (1 + y);
      const double ap = arith.op == Op::kExact ? ex : 1 + x + y + c;
      r.formula += std::fabs(ap - ex) / ex;
      ++r.n_formula;
    }
  }
  const double max_finite = Decode(f, f.MaxFiniteField());
  const double min_normal = std::ldexp(1.0, f.MinNormalExp());
  for (uint32_t a = 0; a < 256; ++a) {
    for (uint32_t b = 0; b < 256; ++b) {
      const double x = Decode(f, a), y = Decode(f, b);
      if (!std::isfinite(x) || !std::isfinite(y) || x == 0 || y == 0) continue;
      const double ex = x * y;  // exact in double
      double ap = Decode(f, arith.MulCodes(a, b));
      if (std::isinf(ap)) ap = std::copysign(max_finite, ap);
      const double rel = std::fabs(ap - ex) / std::fabs(ex);
      r.all += rel;
      ++r.n_all;
      if (std::fabs(x) >= min_normal && std::fabs(y) >= min_normal && std::fabs(ex) >= min_normal &&
          std::fabs(ex) <= max_finite) {
        r.normal += rel;
        ++r.n_normal;
      }
    }
  }
  r.formula /= static_cast<double>(r.n_formula);
  r.normal /= static_cast<double>(r.n_normal);
  r.all /= static_cast<double>(r.n_all);
  return r;
}

}  // namespace lmul::hw
