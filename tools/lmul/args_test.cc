#include "tools/lmul/args.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <climits>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "base/escape.h"

namespace lmul::cli {
namespace {

TEST(ParseInt, AcceptsDecimalInRange) {
  EXPECT_EQ(*ParseInt("--n", "0", 0, 10), 0);
  EXPECT_EQ(*ParseInt("--n", "10", 0, 10), 10);
  EXPECT_EQ(*ParseInt("--n", "-5", -10, 10), -5);
  EXPECT_EQ(*ParseInt("--n", "9223372036854775807", 0, INT64_MAX), INT64_MAX);
  EXPECT_EQ(*ParseInt("--n", "-9223372036854775808", INT64_MIN, 0), INT64_MIN);
  EXPECT_EQ(*ParseInt("--n", "-0", 0, 1), 0);
}

TEST(ParseInt, RefusesGarbageOverflowAndRange) {
  for (const char* bad :
       {"", "-", "+1", " 1", "1 ", "1x", "0x10", "1e3", "1.0", "--1", "abc", "9223372036854775808",
        "18446744073709551617", "4294967300", "-9223372036854775809", "99999999999999999999999"}) {
    auto r = ParseInt("--count", bad, 0, 1000);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("--count"), std::string::npos) << r.error();
      EXPECT_NE(r.error().find("[0, 1000]"), std::string::npos) << r.error();
    }
  }
  auto neg = ParseInt("--samples", "-1", 1, 100);
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.error().find("negative"), std::string::npos) << neg.error();
  EXPECT_FALSE(ParseInt("--n", "11", 0, 10).ok());
  EXPECT_FALSE(ParseInt("--n", "-11", -10, 10).ok());
  // A NUL inside the text is refused, not a terminator.
  EXPECT_FALSE(ParseInt("--n",
                        std::string_view("1\0"
                                         "2",
                                         3),
                        0, 100)
                   .ok());
}

TEST(ParseReal, AcceptsFiniteInRange) {
  EXPECT_EQ(*ParseReal("--temp", "0", 0, 100), 0.0);
  EXPECT_EQ(*ParseReal("--temp", "1.5", 0, 100), 1.5);
  EXPECT_EQ(*ParseReal("--temp", "1e2", 0, 100), 100.0);
  EXPECT_EQ(*ParseReal("--x", "-2.5e-1", -1, 1), -0.25);
}

TEST(ParseReal, RefusesNanInfHexAndRange) {
  for (const char* bad : {"nan", "NaN", "inf", "-inf", "infinity", "0x1p3", "", "1.5x", "1e999",
                          "-1", "101", " 1", "1,5"}) {
    auto r = ParseReal("--temp", bad, 0, 100);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("--temp"), std::string::npos);
    }
  }
}

TEST(ParseDims, ShapesAndOverflow) {
  auto s = ParseDims("--shape", "64x128x256", 'x', 3, 1, 65536);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(*s, (std::vector<int64_t>{64, 128, 256}));
  for (const char* bad : {"4294967300x4x4", "4x4", "4x4x4x4", "x4x4", "4xx4", "0x4x4", "-4x4x4",
                          "4x4x4x", "65537x1x1", "4X4X4"}) {
    EXPECT_FALSE(ParseDims("--shape", bad, 'x', 3, 1, 65536).ok()) << bad;
  }
}

TEST(ParseShard, Bounds) {
  auto s = ParseShard("--shard", "3/4");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->index, 3);
  EXPECT_EQ(s->count, 4);
  for (const char* bad : {"0/4294967298", "4/4", "0/0", "-1/4", "1", "1/2/3", "a/b", "0/2x"}) {
    auto r = ParseShard("--shard", bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().find("0 <= I < N"), std::string::npos) << r.error();
    }
  }
}

TEST(CheckMemory, RefusesMoreThanTheMachine) {
  ASSERT_GT(MachineMemoryBytes(), 0u);
  EXPECT_TRUE(CheckMemory("--n", "10", 1000.0L, "x").ok());
  auto st = CheckMemory("--samples", "100000000000", 2.4e12L, "the sample arrays");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().find("--samples"), std::string::npos) << st.error();
  EXPECT_NE(st.error().find("the sample arrays"), std::string::npos) << st.error();
}

TEST(CheckWritable, ReportsMissingDirectoryAndLeavesNoFile) {
  EXPECT_TRUE(CheckWritable("--json", "-").ok());
  EXPECT_FALSE(CheckWritable("--json", "").ok());
  EXPECT_FALSE(CheckWritable("--json", "/nonexistent-dir-lmul/x.json").ok());
  EXPECT_FALSE(CheckWritable("--json", "/").ok());
  const std::string path = ::testing::TempDir() + "lmul_args_" + std::to_string(getpid());
  std::remove(path.c_str());
  EXPECT_TRUE(CheckWritable("--json", path).ok());
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the probe must not leave a file behind";
}

TEST(FlagName, Longest) {
  EXPECT_EQ(FlagName("-n,--n-tokens"), "--n-tokens");
  EXPECT_EQ(FlagName("--ctx"), "--ctx");
}

int ParseWith(CLI::App* app, std::vector<std::string> argv) {
  std::reverse(argv.begin(), argv.end());
  try {
    app->parse(argv);
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code() == 0 ? 0 : 2;
  }
  return 0;
}

TEST(CliGlue, IntRealAndOutputPathRefuseAtParseTime) {
  {
    CLI::App app;
    uint64_t count = 7;
    AddInt(&app, "--count", &count, 1, 1000, "pairs");
    EXPECT_EQ(ParseWith(&app, {"--count", "12"}), 0);
    EXPECT_EQ(count, 12u);
  }
  {
    CLI::App app;
    uint64_t count = 7;
    AddInt(&app, "--count", &count, 1, 1000, "pairs");
    EXPECT_EQ(ParseWith(&app, {"--count", "-1"}), 2);
    EXPECT_EQ(count, 7u);
  }
  {
    CLI::App app;
    double temp = 0;
    AddReal(&app, "--temp", &temp, 0, 100, "temperature");
    EXPECT_EQ(ParseWith(&app, {"--temp", "nan"}), 2);
  }
  {
    CLI::App app;
    std::string out;
    AddOutputPath(&app, "--json", &out, "file");
    EXPECT_EQ(ParseWith(&app, {"--json", "/nonexistent-dir-lmul/x.json"}), 2);
  }
}

TEST(Escape, ControlAndInvalidBytesAreVisible) {
  EXPECT_EQ(EscapeUntrusted("plain text"), "plain text");
  EXPECT_EQ(EscapeUntrusted("a\x1b[31mred"), "a\\x1B[31mred");
  EXPECT_EQ(EscapeUntrusted("label\r"), "label\\r");
  EXPECT_EQ(EscapeUntrusted("caf\xc3\xa9"), "caf\xc3\xa9");       // valid UTF-8 kept
  EXPECT_EQ(EscapeUntrusted("\xff\xfe"), "\\xFF\\xFE");           // invalid bytes
  EXPECT_EQ(EscapeUntrusted("\xc2\x9b"), "\\u009B");              // C1 CSI
  EXPECT_EQ(EscapeUntrusted("\xed\xa0\x80"), "\\xED\\xA0\\x80");  // surrogate
  EXPECT_EQ(EscapeUntrusted(std::string_view("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeUntrusted(std::string(1000, 'a'), 10), std::string(10, 'a') + "...");
  EXPECT_EQ(FirstInvalidUtf8("ok\xc3\xa9\xff"), 4u);
  EXPECT_EQ(FirstInvalidUtf8("ok"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\xe2\x82"), 0u);  // truncated
}

}  // namespace
TEST(ReadLineBounded, SplitsLinesStripsCrAndRefusesLongOnes) {
  std::istringstream in("a b\r\nsecond\n\nlast-without-newline");
  std::string line;
  ASSERT_TRUE(*ReadLineBounded(in, "stdin", 1, 16, &line));
  EXPECT_EQ(line, "a b");
  ASSERT_TRUE(*ReadLineBounded(in, "stdin", 2, 16, &line));
  EXPECT_EQ(line, "second");
  ASSERT_TRUE(*ReadLineBounded(in, "stdin", 3, 16, &line));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(*ReadLineBounded(in, "stdin", 4, 20, &line));
  EXPECT_EQ(line, "last-without-newline");
  EXPECT_FALSE(*ReadLineBounded(in, "stdin", 5, 16, &line));
  std::istringstream big(std::string(17, 'x') + "\n");
  auto r = ReadLineBounded(big, "stdin", 7, 16, &line);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("stdin line 7: longer than 16 bytes"), std::string::npos) << r.error();
  std::istringstream exact(std::string(16, 'y'));
  EXPECT_TRUE(*ReadLineBounded(exact, "stdin", 1, 16, &line));
  EXPECT_EQ(line.size(), 16u);
}

}  // namespace lmul::cli
