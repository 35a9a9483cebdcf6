#!/usr/bin/env python3
"""Golden cases for lethe::to_valid_utf8: random byte strings (biased toward
UTF-8 lead and continuation bytes) and CPython's
bytes.decode("utf-8", errors="replace") of each, as hex.

    python3 tools/golden/utf8_replace.py > tests/fixtures/core/utf8_replace.json
"""
import json
import random

rng = random.Random(20261206)
pool = list(range(0x20, 0x7F)) + list(range(0x80, 0xC0)) * 2 + [0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xED, 0xEF,
                                                               0xF0, 0xF1, 0xF4, 0xF5, 0xFF]
cases = [b"", b"plain ascii", "caf\u00e9 \u65e5\u672c \U0001F600".encode(), b"\xe6\x97", b"a\xf0\x9f\x98",
         b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80", b"\x80\xbf"]
for _ in range(300):
    cases.append(bytes(rng.choice(pool) for _ in range(rng.randint(1, 12))))
out = [{"in": c.hex(), "out": c.decode("utf-8", errors="replace").encode("utf-8").hex()} for c in cases]
print(json.dumps({"generator": "CPython bytes.decode('utf-8', errors='replace')", "cases": out}, indent=0))
