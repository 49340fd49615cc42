#!/usr/bin/env python3
"""Per-operand power-of-two amax scaling of an (n, 2) <f4 NPY pair file (no numpy):
scales column c by 2^s_c with s_c = floor(log2(FMAX / max|col c|)), FMAX = 448 (e4m3)
or 57344 (e5m2). Power-of-two scaling leaves L-Mul e8mK and exact products' relative
errors unchanged except for range (under/overflow) effects.
usage: scale_pairs.py IN.npy OUT.npy FMAX"""
import array, math, struct, sys
src, dst, fmax = sys.argv[1], sys.argv[2], float(sys.argv[3])
raw = open(src, 'rb').read()
assert raw[:6] == b'\x93NUMPY'
hl = struct.unpack('<H', raw[8:10])[0] if raw[6] == 1 else struct.unpack('<I', raw[8:12])[0]
off = (10 if raw[6] == 1 else 12) + hl
hdr = raw[:off]
assert b"'<f4'" in hdr and b'(' in hdr
v = array.array('f'); v.frombytes(raw[off:])
out = array.array('f', v)
for c in (0, 1):
    amax = max(abs(x) for x in v[c::2])
    s = math.floor(math.log2(fmax / amax))
    f = 2.0 ** s
    for i in range(c, len(v), 2): out[i] = v[i] * f
    print(f'column {c}: amax {amax:.6g}, scale 2^{s}')
open(dst, 'wb').write(hdr + out.tobytes())
