// NPY reader: round trip and hostile inputs.
#include "analysis/precision/npy.h"

#include <gtest/gtest.h>

#include <cmath>

namespace lmul::precision {
namespace {

TEST(Npy, RoundTrip) {
  const std::vector<float> pairs = {1.5f, -2.0f, 0.0f, 3.25e-8f, INFINITY, -7.0f};
  const std::string img = NpyPairsImage(pairs);
  EXPECT_EQ((img.size() - 24) % 64, 0u);  // 64-byte aligned header, then 24 bytes of data
  auto r = ParseNpyPairs(img, "mem");
  ASSERT_TRUE(r.ok()) << r.error();
  ASSERT_EQ(r->size(), pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) EXPECT_EQ((*r)[i], pairs[i]);
}

std::string Image(const std::string& header, size_t data_bytes, char major = 1) {
  std::string h = header;
  while ((10 + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string out = "\x93NUMPY";
  out += major;
  out += '\0';
  out += static_cast<char>(h.size() & 0xFF);
  out += static_cast<char>(h.size() >> 8);
  return out + h + std::string(data_bytes, '\0');
}

TEST(Npy, HostileInputs) {
  const std::string good = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }";
  ASSERT_TRUE(ParseNpyPairs(Image(good, 24), "f.npy").ok());
  struct Case {
    std::string bytes, expect;
  } cases[] = {
      {"", "magic"},
      {"GARBAGE-NOT-NPY", "magic"},
      {Image(good, 24, 9), "version 9"},
      {Image(good, 24).substr(0, 20), "header length"},
      {Image(good, 23), "data size"},
      {Image(good, 25), "data size"},
      {Image("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }", 24), "'descr'"},
      {Image("{'descr': '>f4', 'fortran_order': False, 'shape': (3, 2), }", 24), "'descr'"},
      {Image("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }", 24), "fortran_order"},
      {Image("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 24), "'shape'"},
      {Image("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 24), "'shape'"},
      {Image("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2, 1), }", 24), "'shape'"},
      {Image("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999, 2), }", 24),
       "data size"},
      {Image("{'descr': '<f4', 'fortran_order': False, 'shape': (999999999999999999, 2), }", 24),
       "'shape'"},
      {Image("{'descr': '<f4', 'shape': (3, 2), }", 24), "expected keys"},
  };
  for (const Case& c : cases) {
    auto r = ParseNpyPairs(c.bytes, "f.npy");
    ASSERT_FALSE(r.ok()) << c.expect;
    EXPECT_NE(r.error().find("f.npy"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find(c.expect), std::string::npos) << r.error();
  }
}

TEST(Npy, MissingFile) {
  auto r = ReadNpyPairs("/nonexistent/dir/x.npy");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("/nonexistent/dir/x.npy"), std::string::npos);
}

}  // namespace
}  // namespace lmul::precision
