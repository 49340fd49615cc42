#include "engine/model/policy.h"

#include <map>
#include <optional>
#include <utility>

#include "engine/model/scaling.h"

namespace lmul::engine {
namespace {

struct Preset {
  const char* name;
  const char* inline_form;
};

// lmul-attn uses L-Mul on bf16 operands (k = 7 mantissa bits): bf16 is the format
// these models are run in, and the paper applies L-Mul to the model's own
// low-precision format in attention (docs/engine.md).
constexpr Preset kPresets[] = {
    {"fp32", "*=exact/fp32"},
    {"bf16", "*=exact/bf16,wide"},
    {"fp8-e4m3-attn", "attn=exact/e4m3,wide,*=exact/fp32"},
    {"fp8-e5m2-attn", "attn=exact/e5m2,wide,*=exact/fp32"},
    {"lmul-attn", "attn=lmul/bf16,*=exact/fp32"},
    {"lmul-attn-k3", "attn=lmul/e8m3,*=exact/fp32"},
    {"lmul-attn-k4", "attn=lmul/e8m4,*=exact/fp32"},
    {"lmul-all", "*=lmul/bf16"},
    {"lmul-all-k3", "*=lmul/e8m3"},
    {"lmul-all-k4", "*=lmul/e8m4"},
    {"fp8-e4m3-all", "*=exact/e4m3,wide"},
    // Per-tensor power-of-two scaling of every operand (engine/model/scaling.h).
    {"fp8-e4m3-attn-scaled", "attn=exact/e4m3,wide,scaled,*=exact/fp32"},
    {"fp8-e5m2-attn-scaled", "attn=exact/e5m2,wide,scaled,*=exact/fp32"},
    {"fp8-e4m3-all-scaled", "*=exact/e4m3,wide,scaled"},
};

constexpr std::string_view kScaledSuffix = ",scaled";

// "ARITH[,scaled]" -> the arithmetic and whether the site is scaled.
Result<std::pair<Arith, bool>> ParseSiteValue(std::string value) {
  bool scaled = false;
  if (value.size() >= kScaledSuffix.size() &&
      value.compare(value.size() - kScaledSuffix.size(), kScaledSuffix.size(), kScaledSuffix) ==
          0) {
    scaled = true;
    value.resize(value.size() - kScaledSuffix.size());
  }
  auto arith = Arith::Parse(value);
  if (!arith.ok()) return MakeError(arith.error());
  if (scaled && !ScalingSupported(*arith)) {
    return MakeError(
        "'scaled' needs exact/FORMAT,wide with a format of at most 5 exponent bits "
        "(e4m3, e5m2, fp16), got '" +
        arith->Name() + "'");
  }
  return std::make_pair(*arith, scaled);
}

Result<Policy> ParseInline(std::string_view text) {
  const std::string s(text);
  auto fail = [&](const std::string& why) {
    return MakeError("bad policy '" + s + "': " + why +
                     " (expected a preset or KEY=ARITH,... with KEY in attn.qk attn.av attn "
                     "attn.proj mlp lm_head elementwise * accum)");
  };
  // Split on commas; a piece without '=' continues the previous value (arith options).
  std::vector<std::pair<std::string, std::string>> items;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    const std::string piece = s.substr(start, comma - start);
    const size_t eq = piece.find('=');
    if (eq == std::string::npos) {
      if (items.empty()) return fail("'" + piece + "' is not KEY=VALUE");
      items.back().second += "," + piece;
    } else {
      items.emplace_back(piece.substr(0, eq), piece.substr(eq + 1));
    }
    start = comma + 1;
  }
  Policy p;
  std::array<bool, kNumSites> set{};
  std::optional<std::pair<Arith, bool>> star;
  bool saw_accum = false;
  for (const auto& [key, value] : items) {
    if (key == "accum") {
      if (saw_accum) return fail("accum given twice");
      saw_accum = true;
      if (value == "fp32") {
        p.accum = kernels::Accum::kFp32;
      } else if (value == "bf16") {
        p.accum = kernels::Accum::kBf16;
      } else {
        return fail("accum must be fp32 or bf16, got '" + value + "'");
      }
      continue;
    }
    auto arith = ParseSiteValue(value);
    if (!arith.ok()) return fail("site '" + key + "': " + arith.error());
    std::vector<Site> sites;
    if (key == "*") {
      if (star) return fail("'*' given twice");
      star = *arith;
      continue;
    } else if (key == "attn") {
      sites = {Site::kAttnQK, Site::kAttnAV};
    } else {
      for (Site site : kAllSites) {
        if (key == SiteName(site)) sites = {site};
      }
      if (sites.empty()) return fail("unknown site '" + key + "'");
    }
    for (Site site : sites) {
      if (set[static_cast<int>(site)]) return fail("site '" + key + "' given twice");
      set[static_cast<int>(site)] = true;
      p.at(site) = arith->first;
      p.scaled[static_cast<int>(site)] = arith->second;
    }
  }
  for (Site site : kAllSites) {
    if (!set[static_cast<int>(site)]) {
      if (!star) return fail(std::string("site '") + SiteName(site) + "' not set and no '*'");
      p.at(site) = star->first;
      p.scaled[static_cast<int>(site)] = star->second;
    }
  }
  return p;
}

}  // namespace

const char* SiteName(Site s) {
  switch (s) {
    case Site::kAttnQK:
      return "attn.qk";
    case Site::kAttnAV:
      return "attn.av";
    case Site::kAttnProj:
      return "attn.proj";
    case Site::kMlp:
      return "mlp";
    case Site::kLmHead:
      return "lm_head";
    case Site::kElementwise:
      return "elementwise";
  }
  return "?";
}

std::vector<std::string> Policy::PresetNames() {
  std::vector<std::string> v;
  for (const Preset& p : kPresets) v.push_back(p.name);
  return v;
}

Result<Policy> Policy::Parse(std::string_view text) {
  for (const Preset& p : kPresets) {
    if (text == p.name) {
      auto policy = ParseInline(p.inline_form);
      if (!policy.ok()) return MakeError(std::string("preset ") + p.name + ": " + policy.error());
      return policy;
    }
  }
  if (text.find('=') == std::string_view::npos) {
    std::string names;
    for (const Preset& p : kPresets) names += std::string(names.empty() ? "" : ", ") + p.name;
    return MakeError("unknown policy '" + std::string(text) + "' (presets: " + names +
                     "; or inline KEY=ARITH,..., e.g. attn.qk=lmul/e8m4,attn.av=lmul/e8m4,*=exact/"
                     "fp32)");
  }
  return ParseInline(text);
}

std::string Policy::Name() const {
  for (const Preset& p : kPresets) {
    auto preset = ParseInline(p.inline_form);
    if (preset.ok() && *preset == *this) return p.name;
  }
  // Canonical inline form: the most frequent arithmetic (first in site order on ties)
  // becomes '*', the other sites are listed in site order, accum only when bf16.
  std::map<std::string, int> count;
  for (Site s : kAllSites) ++count[SiteValue(s)];
  std::string star;
  int best = 0;
  for (Site s : kAllSites) {
    const int c = count[SiteValue(s)];
    if (c > best) {
      best = c;
      star = SiteValue(s);
    }
  }
  std::string out;
  for (Site s : kAllSites) {
    if (SiteValue(s) == star) continue;
    out += std::string(SiteName(s)) + "=" + SiteValue(s) + ",";
  }
  out += "*=" + star;
  if (accum == kernels::Accum::kBf16) out += ",accum=bf16";
  return out;
}

std::string Policy::SiteValue(Site s) const {
  return is_scaled(s) ? at(s).Name() + std::string(kScaledSuffix) : at(s).Name();
}

std::string Policy::Describe() const {
  std::string out = "policy " + Name() + ":";
  for (Site s : kAllSites) out += std::string(" ") + SiteName(s) + "=" + SiteValue(s);
  out += std::string(" accum=") + kernels::AccumName(accum);
  return out;
}

}  // namespace lmul::engine
