#!/usr/bin/env python3
"""Prefill and decode tokens/s: llama.cpp (through llama-cpp-python) against
lethe (examples/smollm2_bench.cpp) on the same GGUF file, same thread count,
same prompt ids, in one run, printed side by side with the ratio.

lethe runs three times per round, once per inference weight storage: fp32,
the model's bf16 copy (--weights bf16) and the file's quantised blocks
(--weights quantized: decode multiplies by the Q4_1/Q8_0 blocks, prefill
reads fp32). Both engines prefill the ids (7919 * i + 13) mod vocab, i <
--prompt-tokens, in one call from an empty KV cache, then decode
--decode-tokens tokens one step at a time, appending the argmax. Each engine
runs --repeats times, alternating (llama.cpp, lethe fp32, lethe bf16, lethe
quantized, llama.cpp, ...) so machine load hits all alike; the medians are
reported, with ratios to llama.cpp.

Also per lethe storage (medians over the rounds): the decode floor, i.e. the
weight bytes a step reads over the bandwidth of a plain read of that many
bytes measured in the same lethe process with the same threads, and the
resident memory. llama.cpp's floor is the quantised one (it reads the same
blocks).

Setup: the venv of tools/golden/llamacpp.py (llama-cpp-python 0.3.36) and a
release build of smollm2-bench:
    cmake --preset release -B build/release && cmake --build build/release --target smollm2-bench
Run:
    OMP_WAIT_POLICY=PASSIVE /tmp/lethe-llamacpp-venv/bin/python bench/peers/llamacpp_speed.py \
        --lethe build/release/examples/smollm2-bench [--threads 2] [model.gguf]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools/golden"))
from llamacpp import model_path  # noqa: E402


def prompt_ids(n, vocab):
    return [(7919 * i + 13) % vocab for i in range(n)]


def llamacpp_run(llm, np, ids, decode_tokens):
    """One prefill + decode run; returns (prefill_s, decode_s)."""
    vocab = llm.n_vocab()
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(ids)
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(decode_tokens):
        z = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(vocab,))
        llm.eval([int(z.argmax())])
    return prefill, time.perf_counter() - t0


def lethe_run(exe, model, threads, prompt_tokens, decode_tokens, weights):
    out = subprocess.run([exe, "--model", str(model), "--threads", str(threads), "--prompt-tokens",
                          str(prompt_tokens), "--decode-tokens", str(decode_tokens), "--repeats", "1",
                          "--weights", weights],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return prompt_tokens / r["prefill_tok_s"], decode_tokens / r["decode_tok_s"], r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", nargs="?", default=None)
    ap.add_argument("--lethe", default=str(ROOT / "build/release/examples/smollm2-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    try:
        import llama_cpp
        import numpy as np
    except ImportError:
        sys.exit("llamacpp_speed.py: llama_cpp is not importable; see tools/golden/llamacpp.py for the venv")
    model = model_path([a.model] if a.model else [])
    if not model.exists():
        sys.exit(f"llamacpp_speed.py: {model} not found; run scripts/get-smollm2")
    if not Path(a.lethe).exists():
        sys.exit(f"llamacpp_speed.py: {a.lethe} not found; build the smollm2-bench target (release preset)")

    llm = llama_cpp.Llama(model_path=str(model), n_ctx=a.prompt_tokens + a.decode_tokens + 8,
                          n_batch=max(512, a.prompt_tokens), n_threads=a.threads, n_threads_batch=a.threads,
                          n_gpu_layers=0, verbose=False)
    ids = prompt_ids(a.prompt_tokens, llm.n_vocab())
    llamacpp_run(llm, np, ids, 4)  # warm-up: first-touch of the mapped weights
    storages = ("fp32", "bf16", "quantized")
    runs = {"llama.cpp": [], **{"lethe " + w: [] for w in storages}}
    extra = {"lethe " + w: [] for w in storages}
    for _ in range(a.repeats):
        runs["llama.cpp"].append(llamacpp_run(llm, np, ids, a.decode_tokens))
        for w in storages:
            pre, dec, r = lethe_run(a.lethe, model, a.threads, a.prompt_tokens, a.decode_tokens, w)
            runs["lethe " + w].append((pre, dec))
            extra["lethe " + w].append(r)

    def rates(name):
        pre = statistics.median(p for p, _ in runs[name])
        dec = statistics.median(d for _, d in runs[name])
        return a.prompt_tokens / pre, a.decode_tokens / dec

    ref_pre, ref_dec = rates("llama.cpp")
    print(f"{model.name}, {a.threads} threads, prompt {a.prompt_tokens} tokens, decode {a.decode_tokens} tokens, "
          f"medians of {a.repeats}; load average {os.getloadavg()[0]:.2f}")
    print(f"llama.cpp {llama_cpp.__version__}: {llama_cpp.llama_print_system_info().decode().strip()}")
    def extra_median(name, key):
        return statistics.median(r[key] for r in extra[name]) if name in extra else float("nan")

    quant_floor = extra_median("lethe quantized", "floor_tok_s")
    print(f"{'engine':<15} {'prefill tok/s':>14} {'decode tok/s':>13} {'prefill ratio':>14} {'decode ratio':>13} "
          f"{'weight MB/step':>15} {'read GB/s':>10} {'floor tok/s':>12} {'of floor':>9} {'resident MB':>12}")
    for name in runs:
        pre, dec = rates(name)
        if name in extra:
            mb, gbs, floor, rss = (extra_median(name, k)
                                   for k in ("step_weight_mb", "read_gb_s", "floor_tok_s", "resident_mb"))
        else:  # llama.cpp reads the same blocks as lethe quantized; its RSS is not measured here
            mb, gbs, floor, rss = (extra_median("lethe quantized", "step_weight_mb"),
                                   extra_median("lethe quantized", "read_gb_s"), quant_floor, float("nan"))
        rss_text = f"{rss:12.0f}" if name in extra else f"{'-':>12}"
        print(f"{name:<15} {pre:14.1f} {dec:13.1f} {pre / ref_pre:14.2f} {dec / ref_dec:13.2f} "
              f"{mb:15.1f} {gbs:10.2f} {floor:12.1f} {dec / floor:9.2f} {rss_text}")


if __name__ == "__main__":
    main()
