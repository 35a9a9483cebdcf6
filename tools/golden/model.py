#!/usr/bin/env python3
"""Golden data for lethe's reference Llama (tests/model/test_torch_parity.cpp).

Reads the tiny model lethe wrote (tests/fixtures/model/tiny/config.json and
model.safetensors, Hugging Face names), rebuilds the same Llama in plain
PyTorch (the maths written out here: RMSNorm, rotate-half RoPE, grouped-query
causal attention, SwiGLU MLP; the transformers package is not needed) and
stores logits, the masked mean token NLL and per-tensor gradient norms in
tests/fixtures/model/tiny_golden.json.

Run with Debian's python3 (torch 1.13 from python3-torch):
    /usr/bin/python3 tools/golden/model.py
"""
import json
import math
import os
import struct
import sys

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
FIX = os.path.join(ROOT, "tests", "fixtures", "model")

# The token batch, targets and mask the C++ test uses (B = 2, T = 7).
TOKENS = [[3, 17, 42, 8, 8, 29, 1], [49, 0, 13, 13, 27, 5, 36]]
MASK = [[1, 1, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1, 0]]


def read_safetensors(path):
    """Minimal reader for the F32 files lethe writes (format spec: 8-byte
    little-endian header length, JSON header, raw little-endian data)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(info["shape"])
        out[name] = t.clone()
    return out


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(cfg, p, tokens):
    B, T = tokens.shape
    d, H, KV = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = d // H
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos().float(), emb.sin().float()
    x = p["model.embed_tokens.weight"][tokens]
    mask = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        pre = f"model.layers.{l}."
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)
        q = (h @ p[pre + "self_attn.q_proj.weight"].T).view(B, T, H, hd).transpose(1, 2)
        k = (h @ p[pre + "self_attn.k_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        v = (h @ p[pre + "self_attn.v_proj.weight"].T).view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + mask, dim=-1)
        o = (att @ v).transpose(1, 2).reshape(B, T, d)
        x = x + o @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = h @ p[pre + "mlp.gate_proj.weight"].T
        u = h @ p[pre + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else p["lm_head.weight"]
    return x @ head.T


def main():
    torch.set_num_threads(1)
    with open(os.path.join(FIX, "tiny", "config.json")) as f:
        cfg = json.load(f)
    params = read_safetensors(os.path.join(FIX, "tiny", "model.safetensors"))
    for t in params.values():
        t.requires_grad_(True)
    tokens = torch.tensor(TOKENS)
    logits = forward(cfg, params, tokens)
    B, T, V = logits.shape
    # Targets: the next token (the last position has none and is masked).
    targets = torch.cat((tokens[:, 1:], torch.zeros(B, 1, dtype=torch.long)), dim=1)
    mask = torch.tensor(MASK, dtype=torch.bool)
    loss = torch.nn.functional.cross_entropy(logits[mask], targets[mask])
    loss.backward()
    out = {
        "source": "tools/golden/model.py, torch " + torch.__version__,
        "tokens": TOKENS,
        "mask": MASK,
        "logits": [round(v, 8) for v in logits.detach().reshape(-1).tolist()],
        "loss": loss.item(),
        "grad_norms": {n: t.grad.norm().item() for n, t in sorted(params.items())},
    }
    path = os.path.join(FIX, "tiny_golden.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {path}: loss {loss.item():.6f}, {len(out['logits'])} logits", file=sys.stderr)


if __name__ == "__main__":
    main()
