#include "analysis/energy/energy.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "base/check.h"

namespace lmul::energy {

const std::vector<std::string>& EnergyTable::Keys() {
  static const std::vector<std::string> k = {"fp32_mul",  "fp32_add",  "fp16_mul",  "fp16_add",
                                             "int32_mul", "int32_add", "int16_add", "int8_mul",
                                             "int8_add",  "dram_byte", "sram_byte"};
  return k;
}

EnergyTable EnergyTable::Horowitz45nm() {
  EnergyTable t;
  t.name = "horowitz-45nm";
  t.source =
      "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014, "
      "45 nm 0.9 V. int16_add is not in the table: geometric mean of int8 and int32 add "
      "(assumption). dram_byte = 1.3 nJ per 64-bit DRAM access / 8 (low end of 1.3-2.6 nJ); "
      "sram_byte = 10 pJ per 64-bit read of an 8 KB SRAM / 8.";
  t.pj = {{"fp32_mul", 3.7},
          {"fp32_add", 0.9},
          {"fp16_mul", 1.1},
          {"fp16_add", 0.4},
          {"int32_mul", 3.1},
          {"int32_add", 0.1},
          {"int16_add", 0.0547722557505166},  // sqrt(0.03 * 0.1)
          {"int8_mul", 0.2},
          {"int8_add", 0.03},
          {"dram_byte", 1300.0 / 8},
          {"sram_byte", 10.0 / 8}};
  return t;
}

Result<EnergyTable> EnergyTable::FromJson(const std::string& text, const std::string& file) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(file + ": not a JSON object (expected {\"name\", \"source\", \"pj\": {...}})");
  }
  EnergyTable t;
  t.name = j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : file;
  t.source = j.contains("source") && j["source"].is_string() ? j["source"].get<std::string>()
                                                             : "user table " + file;
  if (!j.contains("pj") || !j["pj"].is_object()) {
    return MakeError(file + ": field 'pj': expected an object of energies in picojoules");
  }
  for (const auto& key : Keys()) {
    const auto it = j["pj"].find(key);
    if (it == j["pj"].end() || !it->is_number() || it->get<double>() < 0) {
      return MakeError(file + ": field 'pj." + key + "': expected a non-negative number (pJ)");
    }
    t.pj[key] = it->get<double>();
  }
  return t;
}

Result<EnergyTable> EnergyTable::Load(const std::string& path) {
  std::ifstream f(path);
  if (!f) return MakeError(path + ": cannot open energy table");
  std::stringstream ss;
  ss << f.rdbuf();
  return FromJson(ss.str(), path);
}

OpCost CostOf(const Arith& arith, const EnergyTable& t, const std::string& acc_key) {
  OpCost c;
  c.acc_key = acc_key;
  const int w = arith.format.Width();
  if (arith.op == Op::kExact) {
    if (w > 16) {
      c.mul_key = "fp32_mul";
      c.note = "exact product of a >16-bit format costed as an fp32 multiply";
    } else if (w > 8) {
      c.mul_key = "fp16_mul";
      c.note = w == 16 && arith.format.exp_bits == 8
                   ? "bf16 multiply costed as fp16 (not in the table; a bf16 multiplier is smaller)"
                   : "fp16 multiply";
    } else {
      c.mul_key = "int8_mul";
      c.note = "fp8 multiply costed as an int8 multiply (not in the table; assumption)";
    }
  } else {
    c.mul_key = w > 16 ? "int32_add" : (w > 8 ? "int16_add" : "int8_add");
    c.note = std::string(OpName(arith.op)) + ": one " +
             std::to_string(w > 16 ? 32 : (w > 8 ? 16 : 8)) +
             "-bit integer add of the magnitude fields (special-value logic not costed)";
  }
  c.mul_pj = t.at(c.mul_key);
  c.step_pj = c.mul_pj + t.at(acc_key);
  return c;
}

double SavingPercent(double old_pj, double new_pj) { return 100.0 * (1.0 - new_pj / old_pj); }

namespace {

Arith ParseOrDie(const std::string& s) {
  auto a = Arith::Parse(s);
  LMUL_CHECK(a.ok(), "energy: arithmetic '%s': %s", s.c_str(), a.error().c_str());
  return *a;
}

}  // namespace

const std::vector<std::string>& PerOperationAriths() {
  static const std::vector<std::string> v = {"exact/fp32", "exact/fp16", "exact/bf16", "exact/e4m3",
                                             "exact/e5m2", "lmul/fp32",  "lmul/fp16",  "lmul/bf16",
                                             "lmul/e8m4",  "lmul/e4m3",  "lmul/e5m2"};
  return v;
}

const std::vector<std::string>& SavingsLMulAriths() {
  static const std::vector<std::string> v = {"lmul/fp32", "lmul/bf16", "lmul/e8m4", "lmul/e4m3"};
  return v;
}

const std::vector<std::string>& SavingsBaselines() {
  static const std::vector<std::string> v = {"exact/fp32", "exact/fp16", "exact/bf16",
                                             "exact/e4m3"};
  return v;
}

std::vector<Saving> Savings(const EnergyTable& t, const std::vector<std::string>& lmul,
                            const std::vector<std::string>& baselines) {
  std::vector<Saving> out;
  for (const std::string& l : lmul) {
    const OpCost cl = CostOf(ParseOrDie(l), t);
    for (const std::string& b : baselines) {
      const OpCost cb = CostOf(ParseOrDie(b), t);
      out.push_back(
          {l, b, SavingPercent(cb.mul_pj, cl.mul_pj), SavingPercent(cb.step_pj, cl.step_pj)});
    }
  }
  return out;
}

PaperClaims ReconstructPaperClaims(const EnergyTable& t) {
  const OpCost e32 = CostOf(ParseOrDie("exact/fp32"), t), l32 = CostOf(ParseOrDie("lmul/fp32"), t);
  const OpCost e16 = CostOf(ParseOrDie("exact/fp16"), t), l16 = CostOf(ParseOrDie("lmul/fp16"), t);
  PaperClaims c;
  c.elementwise_fp32 = SavingPercent(e32.mul_pj, l32.mul_pj);
  c.elementwise_fp16 = SavingPercent(e16.mul_pj, l16.mul_pj);
  c.dot_fp32 = SavingPercent(e32.step_pj, l32.step_pj);
  c.dot_fp16_fp32acc = SavingPercent(e16.step_pj, l16.step_pj);
  return c;
}

ModelShape ModelShape::SmolLM2_135M() {
  ModelShape m;
  m.name = "SmolLM2-135M-Instruct";
  m.n_layer = 30;
  m.d_model = 576;
  m.n_head = 9;
  m.n_kv_head = 3;
  m.head_dim = 64;
  m.d_ff = 1536;
  m.n_vocab = 49152;
  m.weight_bits = 5.0;  // Q4_1: 32 weights in 20 bytes (fp16 scale + fp16 min + 16 bytes)
  m.kv_bits = 32;
  return m;
}

TokenOps CountTokenOps(const ModelShape& m, int ctx) {
  TokenOps o;
  const double q = static_cast<double>(m.n_head) * m.head_dim;
  const double kv = static_cast<double>(m.n_kv_head) * m.head_dim;
  const double per_layer = m.d_model * q + 2 * m.d_model * kv + q * m.d_model +
                           3.0 * m.d_model * m.d_ff;  // q,k,v,o + gate,up,down
  const double lm_head = static_cast<double>(m.n_vocab) * m.d_model;
  o.linear_macs = m.n_layer * per_layer + lm_head;
  o.attention_macs = static_cast<double>(m.n_layer) * m.n_head * m.head_dim * 2.0 * ctx;
  o.weight_bytes = o.linear_macs * m.weight_bits / 8.0;
  // Read K and V of every cached position, write this token's K and V.
  o.kv_bytes = static_cast<double>(m.n_layer) * 2.0 * kv * (ctx + 1) * m.kv_bits / 8.0;
  return o;
}

TokenEnergy TokenEnergyOf(const TokenOps& ops, const Arith& linear, const Arith& attention,
                          const EnergyTable& t) {
  TokenEnergy e;
  e.arith_pj = ops.linear_macs * CostOf(linear, t).step_pj +
               ops.attention_macs * CostOf(attention, t).step_pj;
  e.memory_pj = (ops.weight_bytes + ops.kv_bytes) * t.at("dram_byte");
  return e;
}

Result<GateReport> LoadGateReport(const std::string& path) {
  std::ifstream f(path);
  if (!f)
    return MakeError(path + ": cannot open gate report (produce it with scripts/synth_report.sh)");
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return MakeError(path + ": not a JSON object");
  GateReport r;
  for (const char* k : {"tool", "yosys", "lmul_commit", "date_utc", "flow"}) {
    if (j.contains(k) && j[k].is_string()) {
      r.provenance +=
          std::string(r.provenance.empty() ? "" : "; ") + k + ": " + j[k].get<std::string>();
    }
  }
  if (j.contains("nand2_weights")) r.provenance += "; nand2_weights: " + j["nand2_weights"].dump();
  if (!j.contains("modules") || !j["modules"].is_array()) {
    return MakeError(path + ": field 'modules': expected an array");
  }
  for (size_t i = 0; i < j["modules"].size(); ++i) {
    const auto& m = j["modules"][i];
    const std::string at = path + ": modules[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("arith") || !m["arith"].is_string()) {
      return MakeError(at + ": expected an object with \"arith\": string");
    }
    GateEntry e;
    e.arith = m["arith"].get<std::string>();
    if (m.contains("cells") || m.contains("nand2_eq")) {
      if (!m.contains("cells") || !m["cells"].is_number_integer() || m["cells"].get<int>() < 0 ||
          !m.contains("nand2_eq") || !m["nand2_eq"].is_number() ||
          m["nand2_eq"].get<double>() < 0) {
        return MakeError(at + ": expected \"cells\": integer >= 0 and \"nand2_eq\": number >= 0");
      }
      e.cells = m["cells"].get<int>();
      e.nand2_eq = m["nand2_eq"].get<double>();
    }
    auto str = [&](const char* k, std::string* v) {
      if (m.contains(k) && m[k].is_string()) *v = m[k].get<std::string>();
    };
    auto num = [&](const nlohmann::json& o, const char* k, int* v) {
      if (o.contains(k) && o[k].is_number_integer() && o[k].get<int>() >= 0) *v = o[k].get<int>();
    };
    str("name", &e.name);
    str("unit", &e.unit);
    str("acc", &e.acc);
    num(m, "lanes", &e.lanes);
    num(m, "stages", &e.stages);
    if (m.contains("fused") && m["fused"].is_boolean()) e.fused = m["fused"].get<bool>();
    if (m.contains("xilinx")) {
      if (!m["xilinx"].is_object()) return MakeError(at + ": field 'xilinx': expected an object");
      num(m["xilinx"], "lut", &e.lut);
      num(m["xilinx"], "carry", &e.carry);
      num(m["xilinx"], "ff", &e.ff);
    }
    r.modules.push_back(e);
  }
  return r;
}

const GateEntry* GateReport::Find(const std::string& name) const {
  for (const auto& m : modules) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

namespace {

// NAND2-eq / LUTs of a MAC: synthesized ("mac_<op>_<fmt>_<acc>"), or composed as
// multiplier ("<op>_<fmt>") + adder, the adder taken from any synthesized MAC
// of the same accumulator (MAC minus its multiplier). *composed says which.
struct MacCost {
  double nand2 = -1;
  int lut = -1;
  bool composed = false;
};
MacCost MacOf(const GateReport& r, const std::string& op, const std::string& fmt,
              const std::string& acc) {
  MacCost c;
  const std::string mac_op = op == "exact" ? "exact" : op;
  if (const GateEntry* m = r.Find("mac_" + mac_op + "_" + fmt + "_" + acc); m && m->nand2_eq > 0) {
    c.nand2 = m->nand2_eq;
    c.lut = m->lut;
    return c;
  }
  if (op == "fused") return c;  // no multiplier module to compose from
  const GateEntry* mul = r.Find(op + "_" + fmt);
  if (!mul || mul->nand2_eq <= 0) return c;
  for (const GateEntry& m : r.modules) {
    if (m.unit != "mac" || m.acc != acc || m.fused || m.nand2_eq <= 0) continue;
    const std::string mname = m.arith;  // e.g. "lmul/e4m3" -> module "lmul_e4m3"
    std::string base = mname;
    for (char& ch : base) {
      if (ch == '/') ch = '_';
    }
    const GateEntry* mm = r.Find(base);
    if (!mm || mm->nand2_eq <= 0) continue;
    c.nand2 = mul->nand2_eq + (m.nand2_eq - mm->nand2_eq);
    if (mul->lut > 0 && m.lut > 0 && mm->lut > 0) c.lut = mul->lut + (m.lut - mm->lut);
    c.composed = true;
    return c;
  }
  return c;
}

}  // namespace

Result<GateEnergy> GateEnergyOf(const GateReport& r) {
  const MacCost ref = MacOf(r, "exact", "fp32", "fp32");
  if (ref.nand2 <= 0) {
    return MakeError(
        "gate report has neither 'mac_exact_fp32_fp32' nor 'exact_fp32' plus an fp32-accumulator "
        "MAC (the calibration unit)");
  }
  GateEnergy g;
  g.pj_per_nand2 = 4.6 / ref.nand2;  // Horowitz fp32 mult 3.7 + add 0.9 pJ
  g.calibration_composed = ref.composed;
  const GateEntry* d8 = r.Find("dot8_lmul_e4m3_fp32");
  const GateEntry* m1 = r.Find("mac_lmul_e4m3_fp32");
  if (d8 && m1 && d8->nand2_eq > 0 && m1->nand2_eq > 0) {
    g.dot8_over_8mac = d8->nand2_eq / (8 * m1->nand2_eq);
  }
  for (const char* op : {"fp32", "bf16", "e4m3"}) {
    for (const char* acc : {"fp32", "bf16"}) {
      if (std::string(op) == "fp32" && std::string(acc) == "bf16") continue;  // does not embed
      const MacCost l = MacOf(r, "lmul", op, acc);
      const MacCost e = MacOf(r, "exact", op, acc);
      const MacCost f = MacOf(r, "fused", op, acc);
      if (l.nand2 <= 0 || e.nand2 <= 0) continue;
      MacRow row;
      row.operands = op;
      row.acc = acc;
      row.composed = l.composed || e.composed;
      row.lmul_nand2 = l.nand2;
      row.exact_nand2 = e.nand2;
      row.lmul_lut = l.lut;
      row.exact_lut = e.lut;
      row.saving_vs_exact_pct = SavingPercent(e.nand2, l.nand2);
      row.saving_vs_fused_pct = std::nan("");
      if (f.nand2 > 0) {
        row.fused_nand2 = f.nand2;
        row.fused_lut = f.lut;
        row.saving_vs_fused_pct = SavingPercent(f.nand2, l.nand2);
      }
      row.lut_saving_vs_exact_pct =
          (l.lut > 0 && e.lut > 0) ? SavingPercent(e.lut, l.lut) : std::nan("");
      row.lmul_pj = l.nand2 * g.pj_per_nand2;
      row.exact_pj = e.nand2 * g.pj_per_nand2;
      g.rows.push_back(row);
    }
  }
  const double nan = std::nan("");
  for (const GateEntry& l : r.modules) {
    if (l.unit != "dot" || l.arith.rfind("lmul/", 0) != 0) continue;
    const size_t at = l.name.find("_lmul_");
    if (at == std::string::npos) continue;
    std::string ename = l.name;
    ename.replace(at, 6, "_exact_");
    const GateEntry* e = r.Find(ename);
    if (l.lanes < 1 || !e || e->unit != "dot" || e->lanes != l.lanes || e->stages != l.stages ||
        e->acc != l.acc || e->fused) {
      continue;
    }
    const bool ne = l.nand2_eq > 0 && e->nand2_eq > 0;
    const bool lut = l.lut > 0 && e->lut > 0;
    if (!ne && !lut) continue;  // neither flow ran for both
    DotRow d;
    d.lmul_name = l.name;
    d.exact_name = ename;
    d.operands = l.arith.substr(5);
    d.acc = l.acc;
    d.lanes = l.lanes;
    d.stages = l.stages;
    d.ff = l.ff;
    d.lmul_nand2 = ne ? l.nand2_eq : -1;
    d.exact_nand2 = ne ? e->nand2_eq : -1;
    d.lmul_lut = lut ? l.lut : -1;
    d.exact_lut = lut ? e->lut : -1;
    d.saving_vs_exact_pct = ne ? SavingPercent(e->nand2_eq, l.nand2_eq) : nan;
    d.lut_saving_vs_exact_pct = lut ? SavingPercent(e->lut, l.lut) : nan;
    const MacCost lm = MacOf(r, "lmul", d.operands, d.acc);
    const MacCost em = MacOf(r, "exact", d.operands, d.acc);
    d.lmul_over_n_mac = ne && lm.nand2 > 0 ? l.nand2_eq / (l.lanes * lm.nand2) : nan;
    d.exact_over_n_mac = ne && em.nand2 > 0 ? e->nand2_eq / (l.lanes * em.nand2) : nan;
    if (ne) {
      d.lmul_pj_per_product = l.nand2_eq * g.pj_per_nand2 / l.lanes;
      d.exact_pj_per_product = e->nand2_eq * g.pj_per_nand2 / l.lanes;
    }
    g.dots.push_back(d);
  }
  return g;
}

const std::vector<PublishedFigure>& PublishedFigures() {
  static const std::vector<PublishedFigure> f = {
      {"Luo & Sun, arXiv 2410.00907 (the paper)", "dot-product energy saving (derived, fp32)",
       "80 %", "paper_dot80"},
      {"Luo & Sun, arXiv 2410.00907 (the paper)", "elementwise multiply energy saving", "95 %",
       "paper_mul95"},
      {"Chen et al. (VUB), FCCM 2025 / arXiv 2412.18948",
       "FP8 E4M3 multiplier LUTs, L-Mul vs AMD exact FP8 IP (UltraScale+)", "22 vs 69 (-68 %)",
       "vub_lut"},
      {"Chen et al. (VUB), FCCM 2025 / arXiv 2412.18948", "FP8 multiplier power (measured)",
       "1.34 vs 2.32 mW (-42 %)", "vub_mul_power"},
      {"Chen et al. (VUB), FCCM 2025 / arXiv 2412.18948", "CNN accelerator power, system level",
       "9.46 -> 8.08 W (-14.6 %)", "vub_system"},
      {"UCSD capstone (Yosys/OpenROAD, Nangate45)",
       "BF16 multiplier area, L-Mul (Mitchell offset) vs IEEE", "180.88 vs 545.03 um^2 (-66.8 %)",
       "ucsd_area"},
      {"LogFlex, IEEE Micro 2026 (8-bit LNS)", "accelerator energy vs FP8-E4M3", "-33 %",
       "logflex"},
      {"H-FA, arXiv 2511.00295 (28 nm)", "log-domain FlashAttention unit area / power",
       "-26.5 % / -23.4 %", "hfa"},
      {"FP8ApproxLib, J. Sys. Arch. 2026 (VUB)", "mean relative error of L-Mul, all fp8 pairs",
       "E4M3 0.068, E5M2 0.111", "fp8approxlib_mre"},
  };
  return f;
}

namespace {

// "-12.3 %" of a NAND2-eq (flow "") or LUT (flow "xilinx") pair, "" if absent.
std::string SavingText(const GateReport& r, const std::string& lmul, const std::string& exact,
                       bool lut) {
  const GateEntry* l = r.Find(lmul);
  const GateEntry* e = r.Find(exact);
  if (!l || !e) return "";
  const double a = lut ? l->lut : l->nand2_eq, b = lut ? e->lut : e->nand2_eq;
  if (a <= 0 || b <= 0) return "";
  char buf[96];
  if (lut) {
    std::snprintf(buf, sizeof buf, "%d vs %d LUT (-%.1f %%)", l->lut, e->lut, SavingPercent(b, a));
  } else {
    std::snprintf(buf, sizeof buf, "-%.1f %%", SavingPercent(b, a));
  }
  return buf;
}
// Joins "label value" parts that are present with "; ".
std::string Join(const std::vector<std::pair<std::string, std::string>>& parts) {
  std::string out;
  for (const auto& [label, v] : parts) {
    if (v.empty()) continue;
    if (!out.empty()) out += "; ";
    out += label + " " + v;
  }
  return out;
}

}  // namespace

std::string OursBeside(const std::string& id, const GateReport& r, const GateEnergy& g) {
  auto mac = [&](const std::string& op, const std::string& acc) {
    for (const MacRow& row : g.rows) {
      if (row.operands == op && row.acc == acc) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "-%.1f %%", row.saving_vs_exact_pct);
        return std::string(buf);
      }
    }
    return std::string();
  };
  auto dots = [&] {
    std::string out;
    for (const DotRow& d : g.dots) {
      if (std::isnan(d.saving_vs_exact_pct)) continue;
      char buf[96];
      std::snprintf(buf, sizeof buf, "%sdot%d %s->%s -%.1f %%", out.empty() ? "" : ", ", d.lanes,
                    d.operands.c_str(), d.acc.c_str(), d.saving_vs_exact_pct);
      out += buf;
    }
    return out;
  };
  if (id == "paper_dot80") {
    return Join({{"NAND2-eq, MAC fp32->fp32", mac("fp32", "fp32")},
                 {"bf16->fp32", mac("bf16", "fp32")},
                 {"bf16->bf16", mac("bf16", "bf16")},
                 {"e4m3->fp32", mac("e4m3", "fp32")},
                 {"e4m3->bf16", mac("e4m3", "bf16")},
                 {"units", dots()}});
  }
  if (id == "paper_mul95") {
    return Join({{"NAND2-eq, multiplier fp32", SavingText(r, "lmul_fp32", "exact_fp32", false)},
                 {"bf16", SavingText(r, "lmul_bf16", "exact_bf16", false)},
                 {"e4m3", SavingText(r, "lmul_e4m3", "exact_e4m3", false)}});
  }
  if (id == "vub_lut") {
    return Join({{"xcup e4m3", SavingText(r, "lmul_e4m3", "exact_e4m3", true)},
                 {"e5m2", SavingText(r, "lmul_e5m2", "exact_e5m2", true)}});
  }
  if (id == "vub_mul_power") {
    return Join({{"e4m3 multiplier NAND2-eq (area, not power)",
                  SavingText(r, "lmul_e4m3", "exact_e4m3", false)}});
  }
  if (id == "vub_system" || id == "logflex") {
    return Join({{"NAND2-eq, e4m3 MAC ->fp32", mac("e4m3", "fp32")},
                 {"->bf16", mac("e4m3", "bf16")},
                 {"units", dots()}});
  }
  if (id == "ucsd_area") {
    return Join({{"bf16 multiplier NAND2-eq", SavingText(r, "lmul_bf16", "exact_bf16", false)}});
  }
  if (id == "hfa") return Join({{"bf16 MAC ->fp32 NAND2-eq", mac("bf16", "fp32")}});
  return "";
}

}  // namespace lmul::energy
