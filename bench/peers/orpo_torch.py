#!/usr/bin/env python3
"""PyTorch eager peer for lethe's ORPO benchmarks (bench/loss/bench_losses.cpp).

Same shapes, same formulas (TRL's ORPO: length-normalised completion
log-probs, NLL over chosen completion tokens, beta = 0.1):
  1. ORPO forward + backward on logits [8, 256, 49152] float32 (4 pairs).
  2. Linear + ORPO: H [2048, 576], W [49152, 576] -> loss, dH, dW (autograd
     materialises the [2048, 49152] logits).
Prints the median wall time and peak RSS; with --lethe-bench PATH it then
runs lethe_bench on the same machine (same thread count) and prints lethe's
times, the PyTorch / lethe ratios, and lethe against its same-run baselines
(read+write floor, Eigen GEMM of the logits). About 4 minutes of CPU on 2
cores (most of it PyTorch's linear step), a few minutes of wall time when
the machine is quiet.

  /usr/bin/python3 bench/peers/orpo_torch.py [--threads 2] [--repeats 2] [--lethe-bench build/hr-x/bench/lethe_bench]
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

from torch_blas import blas_library, pin_blas_threads  # noqa: E402

pin_blas_threads()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

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


def time_it(fn, repeats, warm_up=True):
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


LETHE_FILTER = ("BM_read_write_floor_omp|BM_read_write_streaming_omp|BM_orpo_fwd_bwd_omp|"
                "BM_eigen_gemm_logits_baseline|BM_fused_linear_orpo/96|BM_materialised_linear_orpo")


def lethe_times(path, threads):
    """Runs lethe_bench once for the ORPO benchmarks and their baselines; seconds per iteration."""
    out = subprocess.run([path, "--benchmark_filter=" + LETHE_FILTER, "--benchmark_min_time=0.2",
                          "--benchmark_format=json"],
                         check=True, capture_output=True, text=True,
                         env=dict(os.environ, OMP_NUM_THREADS=str(threads),
                                  GLIBC_TUNABLES="glibc.malloc.mmap_threshold=33554432:"
                                                 "glibc.malloc.trim_threshold=268435456")).stdout
    res = {}
    for b in json.loads(out)["benchmarks"]:
        res[b["name"].split("/real_time")[0]] = b["real_time"] / 1e3  # ms -> s
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="timed ORPO steps after one warm-up")
    ap.add_argument("--linear-repeats", type=int, default=1, help="timed linear+ORPO steps (warm-up when > 1)")
    ap.add_argument("--lethe-bench", help="path to lethe_bench (release build) to compare in the same run")
    a = ap.parse_args()
    if a.threads < 1 or a.repeats < 1 or a.linear_repeats < 1:
        sys.exit("orpo_torch.py: --threads, --repeats and --linear-repeats must be >= 1")
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

    # One step takes about a minute of CPU in torch 1.13 here: timed once,
    # without a warm-up, unless --linear-repeats says otherwise.
    t2 = time_it(step2, a.linear_repeats, warm_up=a.linear_repeats > 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # kB -> GB
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"{stamp}: torch {torch.__version__}, {a.threads} threads, median of {a.repeats}")
    print(f"ORPO fwd+bwd logits [8,256,49152]: {t1 * 1e3:.0f} ms")
    print(f"linear+ORPO fwd+bwd N=2048 d=576 V=49152: {t2 * 1e3:.0f} ms")
    print(f"peak RSS {rss:.2f} GB")
    print(f"torch's BLAS: {blas_library()}")
    if a.lethe_bench:
        lt = lethe_times(a.lethe_bench, a.threads)
        floor, stream = lt.get("BM_read_write_floor_omp"), lt.get("BM_read_write_streaming_omp")
        l1, gemm, l2 = lt.get("BM_orpo_fwd_bwd_omp"), lt.get("BM_eigen_gemm_logits_baseline"), \
            lt.get("BM_fused_linear_orpo/96")
        if l1:
            print(f"lethe ORPO fwd+bwd: {l1 * 1e3:.0f} ms -> PyTorch / lethe = {t1 / l1:.1f}x")
            if floor:
                print(f"  read+write floor {floor * 1e3:.0f} ms: lethe at {floor / l1:.0%} of its rate"
                      + (f"; streaming floor {stream * 1e3:.0f} ms ({stream / l1:.0%})" if stream else ""))
        l3 = lt.get("BM_materialised_linear_orpo")
        if l3:
            print(f"lethe materialised linear ORPO (3 GEMMs, 403 MB of logits): {l3 * 1e3:.0f} ms "
                  f"-> PyTorch / lethe = {t2 / l3:.2f}x")
        if l2:
            print(f"lethe fused linear ORPO (chunk 96): {l2 * 1e3:.0f} ms -> PyTorch / lethe = {t2 / l2:.2f}x")
            if gemm:
                print(f"  Eigen GEMM of the logits {gemm * 1e3:.0f} ms: useful rate (3 GEMMs) "
                      f"{3 * gemm / l2:.0%} of it")
    print(f"load average at the end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
