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

// The arithmetics of the per-operation table of `lmul energy`, and the L-Mul x exact
// pairs of its savings table.
const std::vector<std::string>& PerOperationAriths();
const std::vector<std::string>& SavingsLMulAriths();
const std::vector<std::string>& SavingsBaselines();

// L-Mul's saving against an exact baseline: per product and per dot-product step.
struct Saving {
  std::string lmul, baseline;
  double elementwise_pct = 0, dot_step_pct = 0;
};
// Every pair (row-major: lmul outer, baseline inner). Names must parse (Arith::Parse).
std::vector<Saving> Savings(const EnergyTable& t, const std::vector<std::string>& lmul,
                            const std::vector<std::string>& baselines);

// The paper's "95 % per elementwise product" and "80 % per dot product" (it gives no
// derivation), reconstructed from a table with L-Mul costed as one integer add:
struct PaperClaims {
  double elementwise_fp32 = 0;  // fp32 mult vs int32 add
  double elementwise_fp16 = 0;  // fp16 mult vs int16 add
  double dot_fp32 = 0;          // fp32 (mult + add) vs (int32 add + fp32 add)
  double dot_fp16_fp32acc = 0;  // fp16 mult with fp32 accumulation, same comparison
};
PaperClaims ReconstructPaperClaims(const EnergyTable& t);

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
// Fields of a flow that was not run are -1.
struct GateEntry {
  std::string arith;
  int cells = -1;
  double nand2_eq = -1;
  std::string name;  // module name, e.g. "mac_lmul_e4m3_fp32" (older reports: empty)
  std::string unit;  // "" (a bare multiplier), "mac" or "dot"
  std::string acc;
  int lanes = 1, stages = 0;
  bool fused = false;
  int lut = -1, carry = -1, ff = -1;  // synth_xilinx (UltraScale+)
};
struct GateReport {
  std::string provenance;  // tool, yosys version, commit, date, flow, weights
  std::vector<GateEntry> modules;
  const GateEntry* Find(const std::string& name) const;
};
Result<GateReport> LoadGateReport(const std::string& path);

// Energy of the synthesized MAC units, calibrated so that the exact fp32 MAC
// (exact/fp32 product + fp32 adder) costs Horowitz' fp32 mult + add (4.6 pJ):
// pJ = NAND2-eq * pj_per_nand2. Energy is taken proportional to NAND2-eq area
// (equal switching activity per gate: an assumption, docs/energy.md §6).
struct MacRow {
  std::string operands, acc;  // "e4m3", "bf16", "fp32"; "fp32", "bf16"
  double lmul_nand2 = -1, exact_nand2 = -1, fused_nand2 = -1;
  int lmul_lut = -1, exact_lut = -1, fused_lut = -1;
  double saving_vs_exact_pct = 0;  // NAND2-eq, L-Mul MAC vs exact-product MAC
  double saving_vs_fused_pct = 0;  // vs the fused (FMA-style) exact MAC; NaN if absent
  double lut_saving_vs_exact_pct = 0;
  double lmul_pj = 0, exact_pj = 0;  // per MAC step (one product + one add)
  bool composed = false;             // a MAC composed as multiplier + adder (see GateEnergyOf)
};
// A synthesized dot-product unit with L-Mul products beside its exact counterpart
// (the module of the same name with "_exact_" for "_lmul_" and the same lanes,
// stages and accumulator): multipliers + accumulation + pipeline registers.
// Fields that the report lacks for either unit are -1 (counts) or NaN (ratios).
struct DotRow {
  std::string lmul_name, exact_name, operands, acc;  // operands "e4m3"; acc "fp32"
  int lanes = 1, stages = 0, ff = -1;
  double lmul_nand2 = -1, exact_nand2 = -1;
  int lmul_lut = -1, exact_lut = -1;
  double saving_vs_exact_pct = 0;      // NAND2-eq; NaN if either is missing
  double lut_saving_vs_exact_pct = 0;  // xcup LUTs; NaN if either is missing
  // The unit's NAND2-eq / (lanes x the MAC of the same operands and accumulator):
  // how far the dot unit is from "N MACs in a chain" (NaN without the MAC).
  double lmul_over_n_mac = 0, exact_over_n_mac = 0;
  // Energy per product: unit NAND2-eq x pJ per NAND2-eq / lanes (0 without NAND2-eq).
  double lmul_pj_per_product = 0, exact_pj_per_product = 0;
};
struct GateEnergy {
  double pj_per_nand2 = 0;
  double dot8_over_8mac = 0;  // synthesized dot8 / (8 x MAC), NAND2-eq (0 if absent)
  bool calibration_composed = false;
  std::vector<MacRow> rows;
  std::vector<DotRow> dots;  // every L-Mul dot unit that has an exact counterpart
};
// Rows for operands e4m3, bf16, fp32 x accumulators fp32, bf16. A MAC not in
// the report is composed: its multiplier + the adder of any synthesized MAC with
// that accumulator (MAC minus its multiplier; flattened synthesis shares little
// across the boundary). Needs the exact fp32 MAC (synthesized or composed).
// dots: the synthesized dot-product units (DotRow), in report order.
Result<GateEnergy> GateEnergyOf(const GateReport& r);

// Published figures (docs/energy.md §6) with their sources.
struct PublishedFigure {
  std::string source, what, value;
  std::string id;  // key for OursBeside, e.g. "paper_dot80", "vub_lut"
};
const std::vector<PublishedFigure>& PublishedFigures();
// Our figure beside a published one, from the synthesized units of the gate
// report (savings = L-Mul vs our exact unit of the same shape), or "" where the
// report has nothing comparable (e.g. the error figures: hw::MeanRelativeError).
std::string OursBeside(const std::string& id, const GateReport& r, const GateEnergy& g);

}  // namespace lmul::energy

#endif  // LMUL_ANALYSIS_ENERGY_ENERGY_H_
