// Scalar reference of the operations (docs/numerics.md §3).
#include "numeric/arith.h"

#include <bit>
#include <vector>

#include "base/escape.h"

namespace lmul {

const char* OpName(Op op) {
  switch (op) {
    case Op::kLMul:
      return "lmul";
    case Op::kMitchell:
      return "mitchell";
    case Op::kExact:
      return "exact";
  }
  return "?";
}

int LMulOffsetShift(int m) { return m <= 3 ? m : (m == 4 ? 3 : 4); }

uint32_t LMulOffset(const Format& f) {
  const int m = f.man_bits;
  return (static_cast<uint32_t>(f.bias) << m) - ((1u << m) >> LMulOffsetShift(m));
}

uint32_t MitchellOffset(const Format& f) { return static_cast<uint32_t>(f.bias) << f.man_bits; }

uint32_t AddFieldsCodes(const Format& f, uint32_t a, uint32_t b, uint32_t c) {
  const uint32_t sign = (a ^ b) & f.SignBit();
  const uint32_t nan = sign | f.NanField();
  if (f.IsNan(a) || f.IsNan(b)) return nan;
  const bool a_zero = f.IsZeroOrSubnormal(a);  // subnormals count as zero
  const bool b_zero = f.IsZeroOrSubnormal(b);
  if (f.IsInf(a) || f.IsInf(b)) return (a_zero || b_zero) ? nan : sign | f.InfField();
  if (a_zero || b_zero) return sign;
  // One integer add: a carry out of the mantissa goes into the exponent.
  const int64_t s = static_cast<int64_t>(a & f.MagnitudeMask()) +
                    static_cast<int64_t>(b & f.MagnitudeMask()) - static_cast<int64_t>(c);
  if (s < (int64_t{1} << f.man_bits)) return sign;  // underflow: below the smallest normal
  if (s > static_cast<int64_t>(f.MaxFiniteField())) {
    return sign | (f.has_inf ? f.InfField() : f.MaxFiniteField());
  }
  return sign | static_cast<uint32_t>(s);
}

namespace {
// Splits a finite code into significand and exponent: value = sig * 2^exp2.
void SplitFinite(const Format& f, uint32_t code, uint64_t* sig, int* exp2) {
  const uint32_t mag = code & f.MagnitudeMask();
  const uint32_t exp_field = mag >> f.man_bits;
  const uint32_t man = mag & ((1u << f.man_bits) - 1);
  *sig = exp_field == 0 ? man : (man | (1u << f.man_bits));
  *exp2 = (exp_field == 0 ? 1 : static_cast<int>(exp_field)) - f.bias - f.man_bits;
}
}  // namespace

uint32_t ExactMulCodes(const Format& in, uint32_t a, uint32_t b, const Format& out) {
  const bool negative = ((a ^ b) & in.SignBit()) != 0;
  const uint32_t sign = negative ? out.SignBit() : 0u;
  if (in.IsNan(a) || in.IsNan(b)) return sign | out.NanField();
  const bool a_zero = (a & in.MagnitudeMask()) == 0;
  const bool b_zero = (b & in.MagnitudeMask()) == 0;
  if (in.IsInf(a) || in.IsInf(b)) {
    if (a_zero || b_zero) return sign | out.NanField();
    return sign | (out.has_inf ? out.InfField() : out.MaxFiniteField());
  }
  uint64_t sa, sb;
  int ea, eb;
  SplitFinite(in, a, &sa, &ea);
  SplitFinite(in, b, &sb, &eb);
  // sa, sb < 2^24: the product is exact in 48 bits.
  return RoundToCode(out, negative, sa * sb, ea + eb, Rounding::kRne);
}

Result<Arith> Arith::Parse(std::string_view spec) {
  const std::string s(spec);
  auto fail = [&](const std::string& why) {
    return MakeError("bad arithmetic '" + EscapeUntrusted(s, 80) + "': " + why + "\n" + Help());
  };
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return fail("expected OP/FORMAT");
  Arith a;
  const std::string op = s.substr(0, slash);
  if (op == "lmul") {
    a.op = Op::kLMul;
  } else if (op == "mitchell") {
    a.op = Op::kMitchell;
  } else if (op == "exact") {
    a.op = Op::kExact;
  } else {
    return fail("unknown operation '" + EscapeUntrusted(op, 40) + "'");
  }
  a.reduce = a.op == Op::kExact ? Rounding::kRne : Rounding::kTrunc;
  std::vector<std::string> parts;
  size_t start = slash + 1;
  while (true) {
    size_t comma = s.find(',', start);
    parts.push_back(
        s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  auto format = Format::Parse(parts[0]);
  if (!format.ok()) return fail(format.error());
  a.format = *format;
  bool saw_rounding = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string& opt = parts[i];
    if (opt == "rne" || opt == "trunc") {
      if (saw_rounding) return fail("more than one of rne/trunc");
      saw_rounding = true;
      a.reduce = opt == "rne" ? Rounding::kRne : Rounding::kTrunc;
    } else if (opt == "wide") {
      if (a.op != Op::kExact) return fail("option 'wide' is only valid with exact");
      if (a.wide) return fail("option 'wide' given twice");
      a.wide = true;
    } else {
      return fail("unknown option '" + EscapeUntrusted(opt, 40) + "'");
    }
  }
  return a;
}

std::string Arith::Name() const {
  std::string s = std::string(OpName(op)) + "/" + format.Name();
  const Rounding def = op == Op::kExact ? Rounding::kRne : Rounding::kTrunc;
  if (reduce != def) s += std::string(",") + RoundingName(reduce);
  if (wide) s += ",wide";
  return s;
}

const char* Arith::Help() {
  return "arithmetic spec: OP/FORMAT[,OPTION...]\n"
         "  operations: lmul, mitchell, exact\n"
         "  formats:    fp32, bf16, fp16, e5m2, e4m3, e8m1..e8m23\n"
         "  options:    rne | trunc (operand reduction; default trunc for lmul/mitchell, rne for "
         "exact), wide (exact only: product kept in fp32)\n"
         "  examples:   lmul/bf16 lmul/e8m3 lmul/e4m3 exact/e4m3,wide mitchell/fp32 lmul/e8m4,rne";
}

uint32_t Arith::Offset() const {
  switch (op) {
    case Op::kLMul:
      return LMulOffset(format);
    case Op::kMitchell:
      return MitchellOffset(format);
    case Op::kExact:
      return 0;
  }
  return 0;
}

uint32_t Arith::MulCodes(uint32_t a, uint32_t b) const {
  if (op == Op::kExact) return ExactMulCodes(format, a, b, OutputFormat());
  return AddFieldsCodes(format, a, b, Offset());
}

float Arith::MulReduced(float x, float y) const {
  // Reduce() of a representable value is the identity, so encoding either way is exact.
  const uint32_t a = Encode(format, x, Rounding::kRne);
  const uint32_t b = Encode(format, y, Rounding::kRne);
  return Decode(OutputFormat(), MulCodes(a, b));
}

float Arith::Mul(float x, float y) const {
  const uint32_t a = Encode(format, x, reduce);
  const uint32_t b = Encode(format, y, reduce);
  return Decode(OutputFormat(), MulCodes(a, b));
}

}  // namespace lmul
