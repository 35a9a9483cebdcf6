#!/usr/bin/env python3
"""Where lethe and llama.cpp differ on SmolLM2, and why: an independent
PyTorch forward of the same dequantised GGUF weights, in two arithmetics.

  fp32      every product in fp32 on the dequantised weights: what lethe
            computes (lethe dequantises the same blocks to fp32).
  llamacpp  the same graph with llama.cpp's CPU rounding emulated:
            activations quantised per 32-block before every matmul (Q8_1
            against the Q4_1 layers, Q8_0 against the Q8_0 output head;
            scale amax/127 stored as fp16, values round(x/scale)), and the
            attention in f16 as with llama.cpp's default f16 KV cache
            (q, K, V and the softmax weights rounded to fp16).

For each prompt of tests/fixtures/io/smollm2_logits.json (from
llamacpp_logits.py) it writes the fp32 logits at llama.cpp's top-20 ids and
the spread |fp32 - llama.cpp| and |emulated - llama.cpp| to
tests/fixtures/io/smollm2_fp32.json. The C++ test compares lethe to the fp32
values tightly and to llama.cpp within a tolerance set from these spreads.

Setup (torch 1.13 from Debian's python3-torch, plus llama.cpp's gguf-py):
    /usr/bin/python3 -m venv --system-site-packages /tmp/lethe-q8-venv
    /tmp/lethe-q8-venv/bin/pip install gguf
Run (about a minute):
    /tmp/lethe-q8-venv/bin/python tools/golden/llamacpp_arith.py [model.gguf]
"""
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp import ROOT, model_path, write_json  # noqa: E402

LOGITS = ROOT / "tests/fixtures/io/smollm2_logits.json"
OUT = ROOT / "tests/fixtures/io/smollm2_fp32.json"


def load_weights(path):
    import numpy as np
    import torch
    from gguf import GGUFReader
    from gguf.quants import dequantize

    r = GGUFReader(str(path))
    meta = {}
    for k in ("llama.block_count", "llama.attention.head_count", "llama.attention.head_count_kv",
              "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon"):
        f = r.fields[k]
        meta[k] = f.parts[f.data[0]][0].item()
    w, types = {}, {}
    for t in r.tensors:
        x = dequantize(t.data, t.tensor_type).astype(np.float32)
        w[t.name] = torch.from_numpy(x.reshape([int(d) for d in reversed(t.shape)]).copy())
        types[t.name] = t.tensor_type.name
    return meta, w, types


def quantise_blocks(x, torch):
    """llama.cpp's quantize_row_q8_0/q8_1 on the last dim, back to float:
    d = amax/127 (stored fp16), q = round(x / d)."""
    shp = x.shape
    b = x.reshape(-1, 32)
    d = b.abs().amax(dim=1, keepdim=True) / 127.0
    inv = torch.where(d > 0, 1.0 / d, torch.zeros_like(d))
    q = torch.round(b * inv)  # roundf: half away from zero; ties are measure-zero here
    return (q * d.half().float()).reshape(shp)


def forward(meta, w, ids, emulate):
    import torch
    L = meta["llama.block_count"]
    H = meta["llama.attention.head_count"]
    KV = meta["llama.attention.head_count_kv"]
    base = meta["llama.rope.freq_base"]
    eps = meta["llama.attention.layer_norm_rms_epsilon"]
    emb = w["token_embd.weight"]
    d = emb.shape[1]
    hd = d // H
    T = len(ids)

    def lin(x, name):
        if emulate:
            x = quantise_blocks(x, torch)
        return x @ w[name].T

    def rms(x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w[name]

    def f16(x):
        return x.half().float() if emulate else x

    # llama.cpp's "normal" RoPE on the GGUF row order: adjacent pairs.
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    inv = base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)
    ang = pos * inv[None, :]
    cos, sin = torch.cos(ang).float(), torch.sin(ang).float()

    def rope(x):  # [T, heads, hd]
        a, b = x[..., 0::2], x[..., 1::2]
        out = torch.empty_like(x)
        out[..., 0::2] = a * cos[:, None, :] - b * sin[:, None, :]
        out[..., 1::2] = a * sin[:, None, :] + b * cos[:, None, :]
        return out

    mask = torch.full((T, T), float("-inf")).triu(1)
    x = emb[torch.tensor(ids)]
    for l in range(L):
        p = f"blk.{l}."
        h = rms(x, p + "attn_norm.weight")
        q = rope(lin(h, p + "attn_q.weight").view(T, H, hd))
        k = rope(lin(h, p + "attn_k.weight").view(T, KV, hd))
        v = lin(h, p + "attn_v.weight").view(T, KV, hd)
        q, k, v = f16(q), f16(k), f16(v)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = torch.einsum("thd,shd->hts", q, k) / hd ** 0.5 + mask
        att = f16(torch.softmax(att, dim=-1))
        o = torch.einsum("hts,shd->thd", att, v).reshape(T, H * hd)
        x = x + lin(o, p + "attn_output.weight")
        h = rms(x, p + "ffn_norm.weight")
        g = lin(h, p + "ffn_gate.weight")
        u = lin(h, p + "ffn_up.weight")
        x = x + lin(torch.nn.functional.silu(g) * u, p + "ffn_down.weight")
    x = rms(x[-1:], "output_norm.weight")
    head = "output.weight" if "output.weight" in w else "token_embd.weight"
    return lin(x, head)[0].double()


def main():
    import torch
    torch.set_num_threads(2)
    path = model_path()
    if not path.exists():
        sys.exit(f"llamacpp_arith.py: model file {path} not found; run scripts/get-smollm2")
    doc = json.loads(LOGITS.read_text(encoding="utf-8"))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    if sha != doc["model_sha256"]:
        sys.exit("llamacpp_arith.py: the model file differs from the one smollm2_logits.json was made from")
    meta, w, types = load_weights(path)
    out, worst_fp32, worst_emu, sum_fp32, sum_emu, n = [], 0.0, 0.0, 0.0, 0.0, 0
    worst_quant, sum_quant = 0.0, 0.0
    with torch.no_grad():
        for i, p in enumerate(doc["prompts"]):
            z32 = forward(meta, w, p["ids"], emulate=False)
            zq = forward(meta, w, p["ids"], emulate=True)
            top = [(int(t), float(v)) for t, v in p["top"]]
            d32 = [abs(float(z32[t]) - v) for t, v in top]
            dq = [abs(float(zq[t]) - v) for t, v in top]
            de = [abs(float(zq[t]) - float(z32[t])) for t, _ in top]
            worst_quant, sum_quant = max(worst_quant, max(de)), sum_quant + sum(de)
            worst_fp32, worst_emu = max(worst_fp32, max(d32)), max(worst_emu, max(dq))
            sum_fp32, sum_emu, n = sum_fp32 + sum(d32), sum_emu + sum(dq), n + len(top)
            am32 = int(z32.argmax())
            out.append({"fp32_top": [[t, round(float(z32[t]), 6)] for t, _ in top], "fp32_argmax": am32,
                        "fp32_margin": round(float(z32.topk(2).values[0] - z32.topk(2).values[1]), 6),
                        "emulated_top": [[t, round(float(zq[t]), 6)] for t, _ in top],
                        "max_abs_fp32_vs_llamacpp": round(max(d32), 6),
                        "max_abs_emulated_vs_llamacpp": round(max(dq), 6)})
            print(f"prompt {i}: |fp32 - llama.cpp| max {max(d32):.4f}, |emulated - llama.cpp| max {max(dq):.4f}, "
                  f"|emulated - fp32| max {max(de):.4f}; "
                  f"fp32 argmax {am32} vs llama.cpp {top[0][0]}")
    summary = {"max_abs_fp32_vs_llamacpp": round(worst_fp32, 6), "mean_abs_fp32_vs_llamacpp": round(sum_fp32 / n, 6),
               "max_abs_emulated_vs_llamacpp": round(worst_emu, 6),
               "mean_abs_emulated_vs_llamacpp": round(sum_emu / n, 6),
               "max_abs_emulated_vs_fp32": round(worst_quant, 6), "mean_abs_emulated_vs_fp32": round(sum_quant / n, 6)}
    print(summary)
    write_json(OUT, {"source": "tools/golden/llamacpp_arith.py: PyTorch " + torch.__version__ +
                     " forward on gguf-py dequantised weights, fp32", "model_sha256": sha,
                     "summary": summary, "prompts": out})
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
