// lmul_energy: a per-operation energy cost model (docs/energy.md).
//
// The built-in table is Horowitz, "Computing's energy problem (and what we can
// do about it)", ISSCC 2014, 45 nm, 0.9 V. A user table (JSON) replaces it:
//   {"name": "...", "source": "...", "pj": {"fp32_mul": 3.7, ...}}
// Keys: fp32_mul fp32_add fp16_mul fp16_add int32_mul int32_add int16_add
// int8_mul int8_add dram_byte sram_byte (every key required).
#ifndef LMUL_ANALYSIS_ENERGY_ENERGY_H_
#define LMUL_ANALYSIS_ENERGY_ENERGY_H_

#include <map>
#include <string>
#include <vector>

#include "base/result.h"
#include "numeric/arith.h"

namespace lmul::energy {

struct EnergyTable {
  std::string name;
  std::string source;
  std::map<std::string, double> pj;  // energy per operation / per byte, picojoules
  static EnergyTable Horowitz45nm();
  static Result<EnergyTable> FromJson(const std::string& text, const std::string& file);
  static Result<EnergyTable> Load(const std::string& path);
  double at(const std::string& key) const { return pj.at(key); }
  static const std::vector<std::string>& Keys();
};

// How an arithmetic is costed: the table entry of one product, and of the
// accumulating add of a dot-product step (fp32 accumulation unless stated).
struct OpCost {
  std::string mul_key;  // e.g. "fp16_mul", "int16_add" (L-Mul: one integer add)
  std::string acc_key;  // "fp32_add"
  std::string note;     // the assumption, printed
  double mul_pj = 0, step_pj = 0;
};
OpCost CostOf(const Arith& arith, const EnergyTable& t, const std::string& acc_key = "fp32_add");

// 1 - new/old, in percent.
double SavingPercent(double old_pj, double new_pj);

// A decoder-only transformer's shape (per token, batch 1, decode).
struct ModelShape {
  std::string name;
  int n_layer, d_model, n_head, n_kv_head, head_dim, d_ff, n_vocab;
  double weight_bits = 16;           // bits per stored weight (Q4_1: 5)
  double kv_bits = 32;               // bits per cached K/V element
  static ModelShape SmolLM2_135M();  // SmolLM2-135M-Instruct, Q4_1 weights, fp32 KV
};

// Multiply counts of one generated token at context position `ctx` (tokens
// already in the cache including this one): linear layers (q,k,v,o, gate, up,
// down, lm_head) and attention (QK^T and AV).
struct TokenOps {
  double linear_macs = 0, attention_macs = 0;
  double weight_bytes = 0, kv_bytes = 0;
};
TokenOps CountTokenOps(const ModelShape& m, int ctx);

// Energy of one token (pJ) when `linear`/`attention` products use the given
// arithmetics (accumulation fp32, one fp32 add per MAC).
struct TokenEnergy {
  double arith_pj = 0, memory_pj = 0;
  double total() const { return arith_pj + memory_pj; }
};
TokenEnergy TokenEnergyOf(const TokenOps& ops, const Arith& linear, const Arith& attention,
                          const EnergyTable& t);

// One synthesized module of scripts/synth_report.sh (analysis/energy/gates_report.json).
struct GateEntry {
  std::string arith;
  int cells = 0;
  double nand2_eq = 0;
};
struct GateReport {
  std::string provenance;  // tool, yosys version, commit, date, flow, weights
  std::vector<GateEntry> modules;
};
Result<GateReport> LoadGateReport(const std::string& path);

}  // namespace lmul::energy

#endif  // LMUL_ANALYSIS_ENERGY_ENERGY_H_
