#!/usr/bin/env python3
"""Golden values and gradients for lethe's losses, from PyTorch autograd.

Writes tests/fixtures/loss/golden_losses.json: one small batch (float32
logits, int targets, token kinds 0 = padding, 1 = completion, 2 = prompt,
reference log-prob sums) and, per loss configuration, the loss, TRL's
metrics and d loss / d logits, all computed in float64 from the float32
logits with torch.autograd. The formulas follow TRL (ORPOTrainer,
DPOTrainer, CPOTrainer) and the NPO / SimNPO papers; see docs/losses.md.

Run: /usr/bin/python3 tools/golden/losses.py   (Debian's python3-torch)
The tests read the JSON only; they never need Python.
"""
import json
import os

import torch
import torch.nn.functional as F

ROWS, LEN, VOCAB, PROMPT = 4, 6, 16, 2  # 2 pairs: rows 0-1 chosen, 2-3 rejected


def make_batch():
    g = torch.Generator().manual_seed(1234)
    logits = torch.randn(ROWS, LEN, VOCAB, generator=g, dtype=torch.float32) * 2.0
    targets = torch.randint(0, VOCAB, (ROWS, LEN), generator=g, dtype=torch.int64)
    mask = torch.ones(ROWS, LEN, dtype=torch.int64)
    mask[:, :PROMPT] = 2
    for r in range(ROWS):  # r padding positions at the end of row r
        if r:
            mask[r, LEN - r:] = 0
    # Row 0: the model is nearly sure of every target (mean logp near 0),
    # the regime where naive log1p(-exp(x)) fails.
    for t in range(LEN):
        logits[0, t, targets[0, t]] += 14.0
    ref = torch.tensor([-30.5, -28.0, -33.0, -29.5], dtype=torch.float64)
    return logits, targets, mask, ref


def token_logps(x, targets):
    return torch.gather(F.log_softmax(x, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)


def sums(lp, mask, kinds):
    m = torch.zeros_like(lp)
    for k in kinds:
        m = m + (mask == k).to(lp.dtype)
    return (lp * m).sum(-1), m.sum(-1)


def preference(x, targets, mask, ref, cfg):
    lp = token_logps(x, targets)
    s, n = sums(lp, mask, [1])
    p = ROWS // 2
    mean = cfg["kind"] in ("orpo", "ipo", "simpo")
    pol = s / n if mean else s
    refx = ref / n if mean else ref
    xc, xr = pol[:p], pol[p:]
    rc, rr = refx[:p], refx[p:]
    beta, eps, kind = cfg["beta"], cfg["label_smoothing"], cfg["kind"]
    zero = torch.zeros_like(xc)
    log_odds, ratio = zero, zero
    if kind == "orpo":
        # TRL ORPOTrainer.odds_ratio_loss (log1p(-exp(x)) there; the same
        # value in float64 at these x).
        log_odds = (xc - xr) - (torch.log1p(-torch.exp(xc)) - torch.log1p(-torch.exp(xr)))
        ratio = F.logsigmoid(log_odds)
        terms = -beta * ratio
        rew_c, rew_r = beta * xc, beta * xr
    elif kind in ("dpo_sigmoid", "dpo_hinge", "ipo"):
        u = (xc - rc) - (xr - rr)
        if kind == "dpo_sigmoid":
            terms = -F.logsigmoid(beta * u) * (1 - eps) - F.logsigmoid(-beta * u) * eps
        elif kind == "dpo_hinge":
            terms = torch.relu(1 - beta * u)
        else:
            terms = (u - 1 / (2 * beta)) ** 2
        rew_c, rew_r = beta * (xc - rc), beta * (xr - rr)
    else:  # simpo, cpo (TRL CPOTrainer)
        u = xc - xr
        if kind == "simpo":
            u = u - cfg["gamma"] / beta
        terms = -F.logsigmoid(beta * u) * (1 - eps) - F.logsigmoid(-beta * u) * eps
        rew_c, rew_r = beta * xc, beta * xr
    kinds = [1, 2] if cfg["scope"] == "prompt_and_completion" else [1]
    ns, nn = sums(lp[:p], mask[:p], kinds)
    nll = -ns.sum() / nn.sum()
    loss = terms.mean() + cfg["nll_weight"] * nll
    metrics = {
        "rewards/chosen": rew_c.mean(), "rewards/rejected": rew_r.mean(),
        "rewards/accuracies": (rew_c > rew_r).double().mean(), "rewards/margins": (rew_c - rew_r).mean(),
        "logps/chosen": xc.mean(), "logps/rejected": xr.mean(), "nll_loss": nll,
        "log_odds_ratio": ratio.mean(), "log_odds_chosen": log_odds.mean(),
    }
    return loss, metrics


def unlearning(x, targets, mask, ref, cfg):
    lp = token_logps(x, targets)
    s, n = sums(lp, mask, [1])
    f = cfg["forget_rows"]
    kind, beta = cfg["kind"], cfg["beta"]
    if kind in ("gradient_ascent", "gradient_difference"):
        term = s[:f].sum() / n[:f].sum()
    elif kind == "npo":
        term = (2 / beta * F.softplus(beta * (s[:f] - ref[:f]))).mean()
    else:  # simnpo: -(2/beta) logsigmoid(-(beta/|y|) log pi - gamma)
        term = (-2 / beta * F.logsigmoid(-(beta * s[:f] / n[:f]) - cfg["gamma"])).mean()
    loss = term
    if f < ROWS and kind != "gradient_ascent":
        loss = loss + cfg["retain_weight"] * (-s[f:].sum() / n[f:].sum())
    return loss, {}


def nll_loss(x, targets, mask):
    flat_t = torch.where(mask != 0, targets, torch.full_like(targets, -100))
    return F.cross_entropy(x.reshape(-1, VOCAB), flat_t.reshape(-1), ignore_index=-100), {}


def configs():
    base = {"beta": 0.1, "label_smoothing": 0.0, "gamma": 0.5, "nll_weight": 0.0, "scope": "completion",
            "forget_rows": 0, "retain_weight": 1.0}

    def c(name, family, kind, **kw):
        d = dict(base, name=name, family=family, kind=kind)
        d.update(kw)
        return d

    return [
        c("nll", "nll", "nll"),
        c("orpo", "preference", "orpo", nll_weight=1.0),
        c("orpo_trl011_prompt_nll", "preference", "orpo", nll_weight=1.0, scope="prompt_and_completion", beta=0.25),
        c("dpo_sigmoid", "preference", "dpo_sigmoid", beta=0.1),
        c("dpo_smoothed", "preference", "dpo_sigmoid", beta=0.2, label_smoothing=0.1),
        c("dpo_hinge", "preference", "dpo_hinge", beta=0.05),
        c("ipo", "preference", "ipo", beta=0.3),
        c("simpo", "preference", "simpo", beta=2.0, gamma=0.5),
        c("cpo", "preference", "cpo", beta=0.1, nll_weight=1.0),
        c("gradient_ascent", "unlearning", "gradient_ascent", forget_rows=4),
        c("gradient_difference", "unlearning", "gradient_difference", forget_rows=2, retain_weight=0.5),
        c("npo", "unlearning", "npo", forget_rows=4, beta=0.2),
        c("npo_retain", "unlearning", "npo", forget_rows=3, beta=0.2, retain_weight=1.0),
        c("simnpo", "unlearning", "simnpo", forget_rows=4, beta=2.5, gamma=0.3),
    ]


def main():
    logits32, targets, mask, ref = make_batch()
    out = {
        "source": "tools/golden/losses.py, torch " + torch.__version__ + ", float64 autograd on float32 logits",
        "rows": ROWS, "len": LEN, "vocab": VOCAB,
        "logits": [float(v) for v in logits32.reshape(-1).tolist()],
        "targets": targets.reshape(-1).tolist(),
        "mask": mask.reshape(-1).tolist(),
        "ref_logps": ref.tolist(),
        "cases": [],
    }
    for cfg in configs():
        x = logits32.double().clone().requires_grad_(True)
        if cfg["family"] == "nll":
            loss, metrics = nll_loss(x, targets, mask)
        elif cfg["family"] == "preference":
            loss, metrics = preference(x, targets, mask, ref, cfg)
        else:
            loss, metrics = unlearning(x, targets, mask, ref, cfg)
        loss.backward()
        case = dict(cfg)
        case["loss"] = loss.item()
        case["metrics"] = {k: float(v) for k, v in metrics.items()}
        case["grad"] = [float("%.12g" % v) for v in x.grad.reshape(-1).tolist()]
        out["cases"].append(case)
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "tests", "fixtures", "loss", "golden_losses.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes,", len(out["cases"]), "cases")


if __name__ == "__main__":
    main()
