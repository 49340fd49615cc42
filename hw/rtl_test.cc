// RTL equivalence: every generated module is simulated with Icarus Verilog on
// golden vectors from lmul::Arith::MulCodes (the scalar reference): all 65536
// pairs for e4m3 and e5m2, 60k pseudo-random pairs (specials first) for the
// 16-bit and e8mK formats. Skipped with a message when iverilog is absent.
#include "hw/rtl.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace lmul::hw {
namespace {

bool HaveIverilog() {
  return std::system("iverilog -V >/dev/null 2>&1") == 0 &&
         std::system("vvp -V >/dev/null 2>&1") == 0;
}

std::string RunCapture(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  pclose(p);
  return out;
}

// Writes module + vectors + testbench, simulates, returns the "MISMATCHES n" count
// (or -1 with the simulator output in *log).
long Simulate(const std::string& spec, bool exhaustive, uint64_t count, std::string* log) {
  auto arith = Arith::Parse(spec);
  EXPECT_TRUE(arith.ok()) << spec;
  if (!arith.ok()) return -1;
  auto rtl = GenerateRtl(*arith, "dut");
  EXPECT_TRUE(rtl.ok()) << rtl.error();
  auto vec = MakeVectors(*arith, exhaustive, count, 12345);
  EXPECT_TRUE(vec.ok()) << vec.error();
  if (!rtl.ok() || !vec.ok()) return -1;
  std::string tag = spec;
  for (char& c : tag) {
    if (c == '/' || c == ',') c = '_';
  }
  const std::filesystem::path dir = std::filesystem::path(testing::TempDir()) /
                                    ("lmul_hw_" + tag + "_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const int w = arith->format.Width();
  {
    std::ofstream(dir / "dut.v") << *rtl;
    std::ofstream vf(dir / "vec.hex");
    const int hex = (w + 3) / 4;
    for (const auto& p : *vec) {
      char line[64];
      std::snprintf(line, sizeof line, "%0*X%0*X%0*X\n", hex, p.a, hex, p.b, hex, p.y);
      vf << line;
    }
    const int hw_bits = 4 * hex;
    std::ofstream tb(dir / "tb.v");
    tb << "module tb;\n"
       << "  reg [" << 3 * hw_bits - 1 << ":0] mem [0:" << vec->size() - 1 << "];\n"
       << "  reg [" << w - 1 << ":0] a, b, want;\n"
       << "  wire [" << w - 1 << ":0] y;\n"
       << "  integer i, bad;\n"
       << "  dut u(.a(a), .b(b), .y(y));\n"
       << "  initial begin\n"
       << "    $readmemh(\"" << (dir / "vec.hex").string() << "\", mem);\n"
       << "    bad = 0;\n"
       << "    for (i = 0; i < " << vec->size() << "; i = i + 1) begin\n"
       << "      a = mem[i][" << 3 * hw_bits - 1 << ":" << 2 * hw_bits << "];\n"
       << "      b = mem[i][" << 2 * hw_bits - 1 << ":" << hw_bits << "];\n"
       << "      want = mem[i][" << hw_bits - 1 << ":0];\n"
       << "      #1;\n"
       << "      if (y !== want) begin\n"
       << "        if (bad < 5) $display(\"MISMATCH a=%h b=%h y=%h want=%h\", a, b, y, want);\n"
       << "        bad = bad + 1;\n"
       << "      end\n"
       << "    end\n"
       << "    $display(\"MISMATCHES %0d\", bad);\n"
       << "    $finish;\n"
       << "  end\n"
       << "endmodule\n";
  }
  const std::string d = dir.string();
  *log = RunCapture("iverilog -g2005 -Wall -o " + d + "/sim " + d + "/dut.v " + d +
                    "/tb.v 2>&1 && vvp -n " + d + "/sim 2>&1");
  const size_t at = log->find("MISMATCHES ");
  if (at == std::string::npos) return -1;
  const long bad = std::strtol(log->c_str() + at + 11, nullptr, 10);
  if (bad == 0) std::filesystem::remove_all(dir);
  return bad;
}

class RtlSim : public testing::TestWithParam<const char*> {};

TEST_P(RtlSim, MatchesScalarReference) {
  if (!HaveIverilog())
    GTEST_SKIP() << "iverilog/vvp not found on PATH: RTL simulation skipped "
                    "(apt-get install iverilog)";
  const std::string spec = GetParam();
  auto arith = Arith::Parse(spec);
  ASSERT_TRUE(arith.ok());
  const bool exhaustive = arith->format.Width() == 8;
  const uint64_t count = exhaustive ? 65536 : (arith->format.Width() == 32 ? 20000 : 60000);
  std::string log;
  const long bad = Simulate(spec, exhaustive, count, &log);
  EXPECT_EQ(bad, 0) << spec << ": simulator output:\n" << log;
  std::printf("%s: %s %llu pairs, %ld mismatches\n", spec.c_str(),
              exhaustive ? "exhaustive" : "random", static_cast<unsigned long long>(count), bad);
}

INSTANTIATE_TEST_SUITE_P(All, RtlSim,
                         testing::Values("lmul/e4m3", "mitchell/e4m3", "exact/e4m3", "lmul/e5m2",
                                         "mitchell/e5m2", "exact/e5m2", "lmul/bf16",
                                         "mitchell/bf16", "exact/bf16", "lmul/fp16",
                                         "mitchell/fp16", "exact/fp16", "lmul/e8m3", "exact/e8m3",
                                         "lmul/e8m4", "exact/e8m4", "lmul/e8m10", "exact/e8m10",
                                         "lmul/fp32", "exact/fp32"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           std::string s = info.param;
                           for (char& c : s) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return s;
                         });

// The generator itself, without a simulator.
TEST(Rtl, InterfaceAndErrors) {
  auto a = Arith::Parse("lmul/e4m3");
  ASSERT_TRUE(a.ok());
  auto v = GenerateRtl(*a, "lmul_e4m3");
  ASSERT_TRUE(v.ok());
  EXPECT_NE(v->find("module lmul_e4m3 ("), std::string::npos);
  EXPECT_NE(v->find("input [7:0] a"), std::string::npos);
  EXPECT_NE(v->find("output [7:0] y"), std::string::npos);
  EXPECT_FALSE(GenerateRtl(*a, "1bad").ok());
  auto wide = Arith::Parse("exact/e4m3,wide");
  ASSERT_TRUE(wide.ok());
  EXPECT_FALSE(GenerateRtl(*wide, "m").ok());
  auto bf = Arith::Parse("lmul/bf16");
  ASSERT_TRUE(bf.ok());
  EXPECT_FALSE(MakeVectors(*bf, true, 0, 1).ok());  // exhaustive only for 8-bit formats
  auto vec = MakeVectors(*bf, false, 1000, 7);
  ASSERT_TRUE(vec.ok());
  ASSERT_EQ(vec->size(), 1000u);
  for (const auto& p : *vec) EXPECT_EQ(p.y, bf->MulCodes(p.a, p.b));
  const std::string text = FormatVectors(*bf, *vec, "test");
  EXPECT_EQ(text.rfind("// lmul vectors", 0), 0u);
}

}  // namespace
}  // namespace lmul::hw
