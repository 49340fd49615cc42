// Unicode helpers for the byte-level BPE tokenizer: general categories (from the generated
// table unicode_tables.inc, scripts/gen_unicode_tables.py), White_Space, lenient UTF-8
// decoding exactly as llama.cpp does it, and the GPT-2 byte <-> "byte-level character" map.
#ifndef LMUL_ENGINE_TOKENIZER_UNICODE_H_
#define LMUL_ENGINE_TOKENIZER_UNICODE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmul::engine::unicode {

// Unicode general categories; the order is the index used by unicode_tables.inc.
enum class GeneralCategory : uint8_t {
  kCn,
  kCc,
  kCf,
  kCo,
  kCs,  // other (kCn: unassigned)
  kLl,
  kLm,
  kLo,
  kLt,
  kLu,  // letters
  kMc,
  kMe,
  kMn,  // marks
  kNd,
  kNl,
  kNo,  // numbers
  kPc,
  kPd,
  kPe,
  kPf,
  kPi,
  kPo,
  kPs,  // punctuation
  kSc,
  kSk,
  kSm,
  kSo,  // symbols
  kZl,
  kZp,
  kZs,  // separators
};

// Category classes of a code point, as bits (\p{L} = kLetter, ...). Exactly one of the
// class bits kUndefined..kOther is set; kWhitespace is the White_Space property (\s).
enum CodepointClass : uint16_t {
  kUndefined = 1 << 0,    // Cn, and code points > U+10FFFF
  kNumber = 1 << 1,       // \p{N}
  kLetter = 1 << 2,       // \p{L}
  kSeparator = 1 << 3,    // \p{Z}
  kMark = 1 << 4,         // \p{M}
  kPunctuation = 1 << 5,  // \p{P}
  kSymbol = 1 << 6,       // \p{S}
  kOther = 1 << 7,        // \p{C} except Cn
  kWhitespace = 1 << 8,   // White_Space (PropList.txt)
};

const char* UnicodeVersion();  // of the generated table, e.g. "14.0.0"
GeneralCategory CategoryOf(uint32_t cp);
uint16_t ClassOf(uint32_t cp);  // CodepointClass bits

// Decodes UTF-8 the way llama.cpp's unicode_cpts_from_utf8 does: a lead byte announcing n
// bytes is decoded from the n-1 following continuation bytes without checking for overlong
// forms or surrogates; anything else (stray continuation byte, truncated sequence, 0xF8..0xFF,
// a value above U+10FFFF) yields U+FFFD and consumes one byte.
void DecodeUtf8Lenient(std::string_view text, std::vector<uint32_t>* out);
void AppendUtf8(uint32_t cp, std::string* out);  // cp <= 0x10FFFF (surrogates encoded as is)
bool IsValidUtf8(std::string_view text);         // strict (no overlong, surrogate, > U+10FFFF)

// GPT-2 byte-level alphabet: every byte b is shown as one printable code point
// (printable Latin-1 bytes as themselves, the 68 others as U+0100.. in byte order).
uint32_t ByteToCodepoint(uint8_t b);
int CodepointToByte(uint32_t cp);  // the byte, or -1 if cp is not in the alphabet
// Replaces every byte by the UTF-8 of its byte-level code point.
std::string BytesToByteLevel(std::string_view bytes);
// Inverse of BytesToByteLevel; code points outside the alphabet are kept as their UTF-8.
// *all_mapped (optional) is set to whether every code point was in the alphabet.
std::string ByteLevelToBytes(std::string_view text, bool* all_mapped = nullptr);

}  // namespace lmul::engine::unicode

#endif  // LMUL_ENGINE_TOKENIZER_UNICODE_H_
