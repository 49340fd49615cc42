#include "analysis/energy/energy.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

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
    if (!m.is_object() || !m.contains("arith") || !m["arith"].is_string() || !m.contains("cells") ||
        !m["cells"].is_number_integer() || !m.contains("nand2_eq") || !m["nand2_eq"].is_number()) {
      return MakeError(path + ": modules[" + std::to_string(i) +
                       "]: expected {\"arith\": string, \"cells\": integer, \"nand2_eq\": number}");
    }
    r.modules.push_back(
        {m["arith"].get<std::string>(), m["cells"].get<int>(), m["nand2_eq"].get<double>()});
  }
  return r;
}

}  // namespace lmul::energy
