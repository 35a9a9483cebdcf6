#!/usr/bin/env python3
"""PyTorch CPU peer for bench/model/bench_model.cpp.

Same Llama maths as tools/golden/model.py (plain torch, no transformers), on
the same configs: a training step (forward, cross-entropy, backward, AdamW)
for the GPT-2-small-FLOPs config at B=4, T=64, and greedy decode tokens/s
with a KV cache for the 110M config at batch 1 and 2.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/peers/model_torch.py [--threads 2] [--steps 3]
        [--lethe-bench build/release/bench/lethe_bench]

With --lethe-bench it also runs lethe's model benchmarks (same configs) in
the same invocation and prints lethe / torch ratios. Besides wall time it
prints process CPU seconds: on a shared, oversubscribed machine wall time
measures the queue, CPU time the work.
"""
import argparse
import json
import math
import os
import subprocess
import time

from torch_blas import blas_library, pin_blas_threads

pin_blas_threads()

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def make_params(V, d, L, H, KV, FF):
    hd = d // H
    g = torch.Generator().manual_seed(1)
    def w(*s):
        return (torch.randn(*s, generator=g) * 0.02).requires_grad_(True)
    p = {"embed": w(V, d), "norm": torch.ones(d, requires_grad=True), "head": w(V, d), "layers": []}
    for _ in range(L):
        p["layers"].append({
            "n1": torch.ones(d, requires_grad=True), "q": w(H * hd, d), "k": w(KV * hd, d), "v": w(KV * hd, d),
            "o": w(d, H * hd), "n2": torch.ones(d, requires_grad=True), "g": w(FF, d), "u": w(FF, d), "dn": w(d, FF)})
    return p


def all_params(p):
    out = [p["embed"], p["norm"], p["head"]]
    for l in p["layers"]:
        out += list(l.values())
    return out


def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, pos0, hd):
    T = x.shape[-2]
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
    ang = torch.arange(pos0, pos0 + T, dtype=torch.float32)[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), -1)
    h = hd // 2
    rot = torch.cat((-x[..., h:], x[..., :h]), -1)
    return x * emb.cos() + rot * emb.sin()


def forward(p, tokens, H, KV, cache=None):
    B, T = tokens.shape
    d = p["embed"].shape[1]
    hd = d // H
    x = p["embed"][tokens]
    pos0 = 0 if cache is None or cache[0] is None else cache[0][0].shape[2]
    new_cache = []
    for i, l in enumerate(p["layers"]):
        h = rms(x, l["n1"])
        q = rope((h @ l["q"].T).view(B, T, H, hd).transpose(1, 2), pos0, hd)
        k = rope((h @ l["k"].T).view(B, T, KV, hd).transpose(1, 2), pos0, hd)
        v = (h @ l["v"].T).view(B, T, KV, hd).transpose(1, 2)
        if cache is not None and cache[0] is not None:
            k = torch.cat((cache[i][0], k), 2)
            v = torch.cat((cache[i][1], v), 2)
        new_cache.append((k, v))
        kk = k.repeat_interleave(H // KV, 1)
        vv = v.repeat_interleave(H // KV, 1)
        att = q @ kk.transpose(-1, -2) / math.sqrt(hd)
        if T > 1:
            S = kk.shape[2]
            att = att + torch.full((T, S), float("-inf")).triu(S - T + 1)
        o = (torch.softmax(att, -1) @ vv).transpose(1, 2).reshape(B, T, d)
        x = x + o @ l["o"].T
        h = rms(x, l["n2"])
        x = x + (F.silu(h @ l["g"].T) * (h @ l["u"].T)) @ l["dn"].T
    return rms(x, p["norm"]) @ p["head"].T, new_cache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--decode", type=int, default=32)
    ap.add_argument("--lethe-bench", default=None, help="lethe_bench (or model-only bench) to run for ratios")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    # Training step, GPT-2-small FLOPs config.
    V, d, L, H, KV, FF, B, T = 50257, 768, 12, 12, 12, 2048, 4, 64
    p = make_params(V, d, L, H, KV, FF)
    opt = torch.optim.AdamW(all_params(p), lr=1e-4)
    tok = torch.randint(0, V, (B, T))
    tgt = torch.randint(0, V, (B, T))
    times, cpus = [], []
    for s in range(a.steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        logits, _ = forward(p, tok, H, KV)
        loss = F.cross_entropy(logits.view(-1, V), tgt.view(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(all_params(p), 1.0)
        opt.step()
        if s > 0:
            times.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    times.sort()
    cpus.sort()
    torch_step = times[len(times) // 2]
    print(f"torch {torch.__version__} threads {a.threads}: train step gpt2-flops B4 T64 median {torch_step:.3f} s "
          f"(process CPU {cpus[len(cpus) // 2]:.3f} s)")
    print(f"torch's BLAS: {blas_library()}")
    # Decode, 110M config.
    del p, opt
    p = make_params(32000, d, L, H, KV, FF)
    torch_decode = {}
    with torch.no_grad():
        for batch in (1, 2):
            _, cache = forward(p, torch.ones(batch, 16, dtype=torch.long), H, KV, cache=[None])
            nxt = torch.full((batch, 1), 2, dtype=torch.long)
            t0 = time.perf_counter()
            for _ in range(a.decode):
                logits, cache = forward(p, nxt, H, KV, cache=cache)
            dt = time.perf_counter() - t0
            torch_decode[batch] = batch * a.decode / dt
            print(f"decode 110m batch {batch}: {torch_decode[batch]:.1f} tokens/s")
    if a.lethe_bench:
        compare_with_lethe(a, torch_step, torch_decode)


def compare_with_lethe(a, torch_step, torch_decode):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    out = subprocess.run([a.lethe_bench, "--benchmark_filter=model/(eigen_sgemm|train_step_gpt2|decode_110m)",
                          "--benchmark_min_time=0.2", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    rows = {b["name"].split("/")[1]: b for b in json.loads(out)["benchmarks"]}
    step = rows["train_step_gpt2_flops_B4_T64"]
    lethe_step = step["real_time"] / 1e3  # ms
    print(f"lethe train step {lethe_step:.3f} s ({step['GFLOPS'] / 1e9:.1f} GFLOPS; same-run Eigen SGEMM "
          f"{rows['eigen_sgemm_256x768x2048']['GFLOPS'] / 1e9:.1f} GFLOPS): torch / lethe = {torch_step / lethe_step:.2f}")
    for batch in (1, 2):
        for name in (f"decode_110m_batch{batch}", f"decode_110m_bf16_batch{batch}"):
            if name in rows:
                tps = rows[name]["tokens/s"]
                print(f"lethe {name} {tps:.1f} tokens/s: lethe / torch = {tps / torch_decode[batch]:.2f}")


if __name__ == "__main__":
    main()
