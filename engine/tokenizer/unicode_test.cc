#include "engine/tokenizer/unicode.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

namespace lmul::engine::unicode {
namespace {

TEST(UnicodeTest, CategoriesOfKnownCodepoints) {
  EXPECT_EQ(CategoryOf('A'), GeneralCategory::kLu);
  EXPECT_EQ(CategoryOf('z'), GeneralCategory::kLl);
  EXPECT_EQ(CategoryOf('5'), GeneralCategory::kNd);
  EXPECT_EQ(CategoryOf(' '), GeneralCategory::kZs);
  EXPECT_EQ(CategoryOf('\n'), GeneralCategory::kCc);
  EXPECT_EQ(CategoryOf('$'), GeneralCategory::kSc);
  EXPECT_EQ(CategoryOf('!'), GeneralCategory::kPo);
  EXPECT_EQ(CategoryOf(0x0301), GeneralCategory::kMn);   // combining acute
  EXPECT_EQ(CategoryOf(0x0663), GeneralCategory::kNd);   // Arabic-Indic three
  EXPECT_EQ(CategoryOf(0x216B), GeneralCategory::kNl);   // roman numeral twelve
  EXPECT_EQ(CategoryOf(0x00BD), GeneralCategory::kNo);   // one half
  EXPECT_EQ(CategoryOf(0x4F60), GeneralCategory::kLo);   // CJK 你
  EXPECT_EQ(CategoryOf(0x1F600), GeneralCategory::kSo);  // emoji
  EXPECT_EQ(CategoryOf(0x200D), GeneralCategory::kCf);   // ZWJ
  EXPECT_EQ(CategoryOf(0xE000), GeneralCategory::kCo);   // private use
  EXPECT_EQ(CategoryOf(0xD800), GeneralCategory::kCs);   // surrogate
  EXPECT_EQ(CategoryOf(0x0378), GeneralCategory::kCn);   // unassigned
  EXPECT_EQ(CategoryOf(0x10FFFF), GeneralCategory::kCn);
  EXPECT_EQ(CategoryOf(0x110000), GeneralCategory::kCn);  // beyond Unicode
  EXPECT_EQ(CategoryOf(0x2028), GeneralCategory::kZl);
  EXPECT_EQ(CategoryOf(0x2029), GeneralCategory::kZp);
}

TEST(UnicodeTest, ClassesHaveExactlyOneCategoryBit) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp += (cp < 0x30000 ? 1 : 97)) {
    const uint16_t cls = ClassOf(cp) & 0xFF;
    ASSERT_EQ(__builtin_popcount(cls), 1) << std::hex << cp;
  }
  EXPECT_EQ(ClassOf(0x110000), kUndefined);
}

TEST(UnicodeTest, WhiteSpaceIsThePropListSet) {
  const std::set<uint32_t> expected = {0x09,   0x0A,   0x0B,   0x0C,   0x0D,   0x20,   0x85,
                                       0xA0,   0x1680, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004,
                                       0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028,
                                       0x2029, 0x202F, 0x205F, 0x3000};
  std::set<uint32_t> found;
  for (uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    if (ClassOf(cp) & kWhitespace) found.insert(cp);
  }
  EXPECT_EQ(found, expected);
  EXPECT_FALSE(ClassOf(0x200B) & kWhitespace);  // zero width space is Cf, not White_Space
  EXPECT_FALSE(ClassOf(0x1C) & kWhitespace);    // Python's isspace() says yes; Unicode no
}

TEST(UnicodeTest, ByteLevelAlphabetIsABijection) {
  std::set<uint32_t> cps;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = ByteToCodepoint(static_cast<uint8_t>(b));
    EXPECT_EQ(CodepointToByte(cp), b);
    cps.insert(cp);
  }
  EXPECT_EQ(cps.size(), 256u);
  EXPECT_EQ(ByteToCodepoint(' '), 0x120u);   // 'Ġ'
  EXPECT_EQ(ByteToCodepoint('\n'), 0x10Au);  // 'Ċ'
  EXPECT_EQ(ByteToCodepoint(0), 0x100u);
  EXPECT_EQ(ByteToCodepoint('a'), static_cast<uint32_t>('a'));
  EXPECT_EQ(ByteToCodepoint(0xAD), 0x143u);  // soft hyphen is not printable
  EXPECT_EQ(CodepointToByte(0x4F60), -1);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  bool mapped = false;
  EXPECT_EQ(ByteLevelToBytes(BytesToByteLevel(all), &mapped), all);
  EXPECT_TRUE(mapped);
  EXPECT_EQ(BytesToByteLevel(" the\n"), "\xC4\xA0the\xC4\x8A");
  ByteLevelToBytes("x\xE4\xBD\xA0", &mapped);  // 你 is not in the alphabet
  EXPECT_FALSE(mapped);
}

std::vector<uint32_t> Decode(std::string_view s) {
  std::vector<uint32_t> cps;
  DecodeUtf8Lenient(s, &cps);
  return cps;
}

TEST(UnicodeTest, LenientDecodingMatchesLlamaCpp) {
  using V = std::vector<uint32_t>;
  EXPECT_EQ(Decode(""), V{});
  EXPECT_EQ(Decode("a\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80"), (V{'a', 0xE9, 0x4F60, 0x1F600}));
  EXPECT_EQ(Decode("\xFF"
                   "a"),
            (V{0xFFFD, 'a'}));                         // invalid lead byte
  EXPECT_EQ(Decode("\x80\xBF"), (V{0xFFFD, 0xFFFD}));  // stray continuations
  EXPECT_EQ(Decode("\xE2\x82"), (V{0xFFFD, 0xFFFD}));  // truncated: one byte each
  EXPECT_EQ(Decode("\xC3\x28"), (V{0xFFFD, '('}));
  EXPECT_EQ(Decode("\xC0\xAF"), (V{'/'}));                                     // overlong accepted
  EXPECT_EQ(Decode("\xED\xA0\x80"), (V{0xD800}));                              // surrogate accepted
  EXPECT_EQ(Decode("\xF4\x90\x80\x80"), (V{0xFFFD, 0xFFFD, 0xFFFD, 0xFFFD}));  // > U+10FFFF
  EXPECT_EQ(Decode("\xF8\x88\x80\x80\x80"), (V(5, 0xFFFD)));
}

TEST(UnicodeTest, Utf8RoundTripAndValidation) {
  for (uint32_t cp : {0u, 0x7Fu, 0x80u, 0x7FFu, 0x800u, 0xFFFFu, 0x10000u, 0x10FFFFu}) {
    std::string s;
    AppendUtf8(cp, &s);
    EXPECT_EQ(Decode(s), std::vector<uint32_t>{cp});
    EXPECT_TRUE(IsValidUtf8(s));
  }
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));
  EXPECT_TRUE(IsValidUtf8("plain \xE2\x82\xAC"));
}

TEST(UnicodeTest, VersionIsRecorded) { EXPECT_STRNE(UnicodeVersion(), ""); }

}  // namespace
}  // namespace lmul::engine::unicode
