#include "engine/model/policy.h"

#include <gtest/gtest.h>

namespace lmul::engine {
namespace {

Arith A(const char* s) { return *Arith::Parse(s); }

TEST(PolicyTest, Presets) {
  const std::vector<std::string> names = Policy::PresetNames();
  ASSERT_EQ(names.size(), 14u);
  for (const std::string& n : names) {
    auto p = Policy::Parse(n);
    ASSERT_TRUE(p.ok()) << n << ": " << p.error();
    EXPECT_EQ(p->Name(), n);
  }
  auto fp32 = *Policy::Parse("fp32");
  for (Site s : kAllSites) EXPECT_EQ(fp32.at(s), A("exact/fp32"));
  auto bf16 = *Policy::Parse("bf16");
  for (Site s : kAllSites) EXPECT_EQ(bf16.at(s), A("exact/bf16,wide"));
  auto lattn = *Policy::Parse("lmul-attn");
  EXPECT_EQ(lattn.at(Site::kAttnQK), A("lmul/bf16"));
  EXPECT_EQ(lattn.at(Site::kAttnAV), A("lmul/bf16"));
  EXPECT_EQ(lattn.at(Site::kMlp), A("exact/fp32"));
  EXPECT_EQ(lattn.at(Site::kElementwise), A("exact/fp32"));
  EXPECT_EQ(Policy::Parse("lmul-attn-k3")->at(Site::kAttnAV), A("lmul/e8m3"));
  EXPECT_EQ(Policy::Parse("lmul-attn-k4")->at(Site::kAttnQK), A("lmul/e8m4"));
  EXPECT_EQ(Policy::Parse("fp8-e4m3-attn")->at(Site::kAttnQK), A("exact/e4m3,wide"));
  EXPECT_EQ(Policy::Parse("fp8-e5m2-attn")->at(Site::kAttnAV), A("exact/e5m2,wide"));
  EXPECT_EQ(Policy::Parse("fp8-e5m2-attn")->at(Site::kLmHead), A("exact/fp32"));
  auto all = *Policy::Parse("lmul-all");
  for (Site s : kAllSites) EXPECT_EQ(all.at(s), A("lmul/bf16"));
  EXPECT_EQ(all.accum, kernels::Accum::kFp32);
  for (Site s : kAllSites) {
    EXPECT_EQ(Policy::Parse("lmul-all-k3")->at(s), A("lmul/e8m3"));
    EXPECT_EQ(Policy::Parse("lmul-all-k4")->at(s), A("lmul/e8m4"));
    EXPECT_EQ(Policy::Parse("fp8-e4m3-all")->at(s), A("exact/e4m3,wide"));
    EXPECT_FALSE(Policy::Parse("fp8-e4m3-all")->is_scaled(s));
    EXPECT_EQ(Policy::Parse("fp8-e4m3-all-scaled")->at(s), A("exact/e4m3,wide"));
    EXPECT_TRUE(Policy::Parse("fp8-e4m3-all-scaled")->is_scaled(s));
    EXPECT_FALSE(all.is_scaled(s));
  }
  for (const char* name : {"fp8-e4m3-attn-scaled", "fp8-e5m2-attn-scaled"}) {
    const Policy p = *Policy::Parse(name);
    const Arith fp8 = A(name[5] == '4' ? "exact/e4m3,wide" : "exact/e5m2,wide");
    for (Site s : kAllSites) {
      const bool attn = s == Site::kAttnQK || s == Site::kAttnAV;
      EXPECT_EQ(p.at(s), attn ? fp8 : A("exact/fp32")) << name;
      EXPECT_EQ(p.is_scaled(s), attn) << name;
    }
    // Scaling is part of the policy: the unscaled preset is a different policy.
    EXPECT_NE(p, *Policy::Parse(std::string(name).substr(0, 13)));
  }
}

TEST(PolicyTest, ScaledSites) {
  auto p = Policy::Parse("attn=exact/e4m3,wide,scaled,*=exact/fp32");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(p->Name(), "fp8-e4m3-attn-scaled");
  EXPECT_EQ(p->SiteValue(Site::kAttnQK), "exact/e4m3,wide,scaled");
  auto q = Policy::Parse("mlp=exact/e5m2,wide,scaled,attn=exact/e4m3,wide,*=exact/fp32");
  ASSERT_TRUE(q.ok()) << q.error();
  EXPECT_TRUE(q->is_scaled(Site::kMlp));
  EXPECT_FALSE(q->is_scaled(Site::kAttnQK));
  EXPECT_EQ(*Policy::Parse(q->Name()), *q) << q->Name();
  EXPECT_NE(q->Describe().find("mlp=exact/e5m2,wide,scaled"), std::string::npos);
  for (const char* bad :
       {"*=exact/e4m3,scaled", "*=lmul/e4m3,scaled", "*=exact/bf16,wide,scaled",
        "*=exact/fp32,scaled", "*=lmul/bf16,scaled", "*=scaled", "*=exact/e4m3,scaled,wide"}) {
    auto e = Policy::Parse(bad);
    EXPECT_FALSE(e.ok()) << "'" << bad << "' parsed";
  }
  auto e = Policy::Parse("*=exact/bf16,wide,scaled");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("'scaled' needs exact/FORMAT,wide"), std::string::npos) << e.error();
}

TEST(PolicyTest, InlineFormsAndCanonicalName) {
  auto p = Policy::Parse("attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/fp32");
  ASSERT_TRUE(p.ok()) << p.error();
  EXPECT_EQ(*p, *Policy::Parse("lmul-attn-k4"));
  EXPECT_EQ(p->Name(), "lmul-attn-k4");

  auto q = Policy::Parse("mlp=exact/e4m3,wide,*=exact/fp32,accum=bf16");
  ASSERT_TRUE(q.ok()) << q.error();
  EXPECT_EQ(q->at(Site::kMlp), A("exact/e4m3,wide"));
  EXPECT_EQ(q->accum, kernels::Accum::kBf16);
  EXPECT_EQ(q->Name(), "mlp=exact/e4m3,wide,*=exact/fp32,accum=bf16");
  EXPECT_EQ(*Policy::Parse(q->Name()), *q);

  // Order does not matter; '*' only fills sites not named.
  auto r = Policy::Parse("*=lmul/bf16,lm_head=exact/fp32,elementwise=mitchell/bf16");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->at(Site::kLmHead), A("exact/fp32"));
  EXPECT_EQ(r->at(Site::kElementwise), A("mitchell/bf16"));
  EXPECT_EQ(r->at(Site::kAttnQK), A("lmul/bf16"));
  EXPECT_EQ(*Policy::Parse(r->Name()), *r);
  EXPECT_NE(r->Describe().find("lm_head=exact/fp32"), std::string::npos);

  // Every site explicitly, no '*'.
  auto s = Policy::Parse(
      "attn.qk=lmul/e8m3,attn.av=lmul/e8m3,attn.proj=exact/bf16,mlp=exact/bf16,"
      "lm_head=exact/fp32,elementwise=exact/fp32");
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_EQ(*Policy::Parse(s->Name()), *s);
}

TEST(PolicyTest, Errors) {
  for (const char* bad :
       {"", "fp64", "attn.qk=lmul/bf16", "foo=exact/fp32,*=exact/fp32", "*=lmul/fp64",
        "*=exact/fp32,*=exact/bf16", "attn.qk=exact/fp32,attn.qk=exact/fp32,*=exact/fp32",
        "attn=exact/fp32,attn.qk=exact/fp32,*=exact/fp32", "*=exact/fp32,accum=fp16",
        "*=lmul/bf16,wide", ",*=exact/fp32", "*=exact/fp32,"}) {
    auto p = Policy::Parse(bad);
    EXPECT_FALSE(p.ok()) << "'" << bad << "' parsed";
  }
  auto e = Policy::Parse("lmul-atn");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("presets: fp32, bf16"), std::string::npos) << e.error();
}

}  // namespace
}  // namespace lmul::engine
