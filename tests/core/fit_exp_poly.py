#!/usr/bin/env python3
"""Coefficients of simd::detail::exp_poly5 (include/lethe/core/simd.hpp).

e^r on |r| <= ln2/2 as 1 + r (c1 + r (c2 + r (c3 + r (c4 + r c5)))), with
the maximum relative error minimised by Lawson's iteration (iteratively
reweighted least squares, which converges to the minimax fit) on 4001
points. Prints the coefficients rounded to float and the error of the
polynomial in exact arithmetic and evaluated in float (Horner, one rounding
per step as with FMA). Needs numpy only; the tests do not run it.
"""
import numpy as np

DEGREE = 5
h = np.log(2.0) / 2
r = np.linspace(-h, h, 4001)
y = np.exp(r)
a = np.stack([r**k for k in range(1, DEGREE + 1)], axis=1) / y[:, None]
b = (y - 1) / y
w = np.full(r.shape, 1.0 / r.size)
for _ in range(5000):
    sw = np.sqrt(w)
    c, *_ = np.linalg.lstsq(a * sw[:, None], b * sw, rcond=None)
    e = np.abs(a @ c - b)
    w = w * e
    w /= w.sum()
print("max relative error, exact arithmetic:", np.abs(a @ c - b).max())
cf = c.astype(np.float32)
print("c1..c5:", ", ".join("%.9ef" % float(v) for v in cf))
rf = np.linspace(-h, h, 400001).astype(np.float32)
p = np.float32(cf[-1])
for k in range(DEGREE - 2, -1, -1):
    p = (p.astype(np.float64) * rf + float(cf[k])).astype(np.float32)
p = (p.astype(np.float64) * rf + 1.0).astype(np.float32)
exact = np.exp(rf.astype(np.float64))
print("max relative error, float evaluation:", (np.abs(p - exact) / exact).max())
