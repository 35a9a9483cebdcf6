#!/usr/bin/python3
"""Golden rows for lethe's CFG combiners (tests/fixtures/guidance/cfg_golden.json).

The log-space rows use the Hugging Face formula of
transformers' UnbatchedClassifierFreeGuidanceLogitsProcessor /
ClassifierFreeGuidanceLogitsProcessor (log_softmax of both branches, then
uncond + g * (cond - uncond)), in PyTorch float64. The probability-space and
raw-logit forms follow arXiv 2412.06846 section 5 and the logit formula
z_neg + g (z_pos - z_neg). Several negatives: weighted mean of the negative
branch (docs/guidance.md). Run with Debian's python3 (python3-torch):
    /usr/bin/python3 tools/golden/guidance.py
"""
import json
import os

import torch

torch.manual_seed(20241206)
ROWS, VOCAB = 2, 100
SCALES = [0.0, 0.5, 1.0, 1.5, 3.0]


def hf_log_cfg(cond, uncond, g):
    # The processor's arithmetic, step by step.
    scores = torch.nn.functional.log_softmax(cond, dim=-1)
    unconditional_logits = torch.nn.functional.log_softmax(uncond, dim=-1)
    return g * (scores - unconditional_logits) + unconditional_logits


def prob_cfg(cond, neg, g, clamp):
    p = torch.softmax(cond, dim=-1)
    q = torch.softmax(neg, dim=-1)
    out = q + g * (p - q)
    if clamp and g > 1:
        out = out.clamp(min=0)
        out = out / out.sum(dim=-1, keepdim=True)
    return out


def main():
    cond = (torch.randn(ROWS, VOCAB, dtype=torch.float64) * 3).float().double()
    negs = [(torch.randn(ROWS, VOCAB, dtype=torch.float64) * 3).float().double() for _ in range(3)]
    weights = [0.5, 0.3, 0.2]
    cases = []
    for g in SCALES:
        cases.append({"scale": g, "space": "log", "negatives": [0], "weights": [1.0],
                      "out": hf_log_cfg(cond, negs[0], g).flatten().tolist()})
        cases.append({"scale": g, "space": "prob", "negatives": [0], "weights": [1.0],
                      "out": prob_cfg(cond, negs[0], g, False).flatten().tolist()})
        cases.append({"scale": g, "space": "prob_sample", "negatives": [0], "weights": [1.0],
                      "out": prob_cfg(cond, negs[0], g, True).flatten().tolist()})
        cases.append({"scale": g, "space": "logit", "negatives": [0], "weights": [1.0],
                      "out": (negs[0] + g * (cond - negs[0])).flatten().tolist()})
        # Three weighted negatives: the negative branch is their weighted mean.
        w = torch.tensor(weights, dtype=torch.float64)
        w = w / w.sum()
        u = sum(w[k] * torch.log_softmax(negs[k], dim=-1) for k in range(3))
        s = torch.log_softmax(cond, dim=-1)
        cases.append({"scale": g, "space": "log", "negatives": [0, 1, 2], "weights": weights,
                      "out": (u + g * (s - u)).flatten().tolist()})
        q = sum(w[k] * torch.softmax(negs[k], dim=-1) for k in range(3))
        p = torch.softmax(cond, dim=-1)
        cases.append({"scale": g, "space": "prob", "negatives": [0, 1, 2], "weights": weights,
                      "out": (q + g * (p - q)).flatten().tolist()})
    doc = {
        "source": "tools/golden/guidance.py (PyTorch %s, float64; HF CFG formula)" % torch.__version__,
        "rows": ROWS, "vocab": VOCAB,
        "cond": cond.flatten().tolist(),
        "negatives": [n.flatten().tolist() for n in negs],
        "cases": cases,
    }
    out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "guidance", "cfg_golden.json")
    with open(out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(out), os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
