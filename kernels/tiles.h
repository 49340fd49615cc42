// The GEMM tile sizes, declared once for every kernel (Highway, raw AVX-512,
// portable) and the packing of PackedB. Constants only: this header is also
// included by the files built with -mavx512* flags (kernels/x86/), which must
// not define inline functions the linker could pick for the whole program.
#ifndef LMUL_KERNELS_TILES_H_
#define LMUL_KERNELS_TILES_H_

namespace lmul::kernels::tiles {

// fp32 lanes (Accum::kFp32 / kBf16).
constexpr int kPanelWidth = 32;  // columns per B panel (PackedB::kPanelWidth)
constexpr int kRowBlock = 12;    // A packed in blocks of 12 rows: a[(block*K + k)*12 + r]
constexpr int kKC = 256;         // k block: one B panel slice is 32 KiB (L1)
constexpr int kMC = 96;          // rows of A per block (L2); a multiple of kRowBlock

// 16-bit lanes (Accum::kBf16Dot): a dword holds the pair of codes of k (even), k + 1.
constexpr int kDotMR = 12;    // rows per micro-tile; A packed in blocks of 12 rows
constexpr int kDotNR = 32;    // columns per B panel (= kPanelWidth)
constexpr int kDotKCP = 192;  // k pairs per k block (B panel slice: 24 KiB, L1)
constexpr int kDotMC = 96;    // rows per row block (L2)

static_assert(kMC % kRowBlock == 0 && kDotMC % kDotMR == 0 && kDotNR == kPanelWidth);

}  // namespace lmul::kernels::tiles

#endif  // LMUL_KERNELS_TILES_H_
