#!/usr/bin/env python3
"""PyTorch eager peer for lethe's ORPO benchmarks (bench/loss/bench_losses.cpp).

Same shapes, same formulas (TRL's ORPO: length-normalised completion
log-probs, NLL over chosen completion tokens, beta = 0.1):
  1. ORPO forward + backward on logits [8, 256, 49152] float32 (4 pairs).
  2. Linear + ORPO: H [2048, 576], W [49152, 576] -> loss, dH, dW (autograd
     materialises the [2048, 49152] logits).
Prints the median wall time and peak RSS; with --lethe-bench PATH it also
runs lethe_bench on the same machine and prints lethe's time and the ratio.

  /usr/bin/python3 bench/peers/orpo_torch.py [--threads 2] [--repeats 3] [--lethe-bench build/hr-x/bench/lethe_bench]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

PAIRS, LEN, VOCAB, PROMPT, BETA = 4, 256, 49152, 64, 0.1
N, D = 2048, 576


def orpo_loss(logits, targets, mask):
    lp = torch.gather(F.log_softmax(logits, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)
    m = (mask == 1).to(lp.dtype)
    x = (lp * m).sum(-1) / m.sum(-1)
    xc, xr = x[:PAIRS], x[PAIRS:]
    log_odds = (xc - xr) - (torch.log1p(-torch.exp(xc)) - torch.log1p(-torch.exp(xr)))
    nll = -(lp[:PAIRS] * m[:PAIRS]).sum() / m[:PAIRS].sum()
    return nll - BETA * F.logsigmoid(log_odds).mean()


def batch():
    g = torch.Generator().manual_seed(0)
    targets = torch.randint(0, VOCAB, (2 * PAIRS, LEN), generator=g)
    mask = torch.ones(2 * PAIRS, LEN, dtype=torch.int64)
    mask[:, :PROMPT] = 2
    return targets, mask


def time_it(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def lethe_times(path):
    out = subprocess.run([path, "--benchmark_filter=BM_orpo_fwd_bwd_omp|BM_fused_linear_orpo/128",
                          "--benchmark_min_time=0.2", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_threshold=33554432:"
                                                            "glibc.malloc.trim_threshold=268435456")).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        res[b["name"].split("/real_time")[0]] = b["real_time"] / 1e3  # ms -> s
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lethe-bench", help="path to lethe_bench (release build) to compare in the same run")
    a = ap.parse_args()
    if a.threads < 1 or a.repeats < 1:
        sys.exit("orpo_torch.py: --threads and --repeats must be >= 1")
    torch.set_num_threads(a.threads)
    targets, mask = batch()

    logits = (torch.randn(2 * PAIRS, LEN, VOCAB) * 3.0).requires_grad_(True)

    def step1():
        logits.grad = None
        orpo_loss(logits, targets, mask).backward()

    t1 = time_it(step1, a.repeats)
    del logits
    h = torch.randn(N, D).requires_grad_(True)
    w = (torch.randn(VOCAB, D) * 0.05).requires_grad_(True)

    def step2():
        h.grad = None
        w.grad = None
        z = (h @ w.t()).view(2 * PAIRS, LEN, VOCAB)
        orpo_loss(z, targets, mask).backward()

    t2 = time_it(step2, a.repeats)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB
    print(f"torch {torch.__version__}, {a.threads} threads, median of {a.repeats}")
    print(f"ORPO fwd+bwd logits [8,256,49152]: {t1 * 1e3:.0f} ms")
    print(f"linear+ORPO fwd+bwd N=2048 d=576 V=49152: {t2 * 1e3:.0f} ms")
    print(f"peak RSS {rss:.2f} GB")
    if a.lethe_bench:
        lt = lethe_times(a.lethe_bench)
        l1, l2 = lt.get("BM_orpo_fwd_bwd_omp"), lt.get("BM_fused_linear_orpo/128")
        if l1:
            print(f"lethe ORPO fwd+bwd: {l1 * 1e3:.0f} ms -> PyTorch / lethe = {t1 / l1:.1f}x")
        if l2:
            print(f"lethe fused linear ORPO (chunk 128): {l2 * 1e3:.0f} ms -> PyTorch / lethe = {t2 / l2:.2f}x")


if __name__ == "__main__":
    main()
