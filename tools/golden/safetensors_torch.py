#!/usr/bin/env python3
"""safetensors interop fixtures for lethe (tests/io/test_safetensors_interop.cpp).

Direction 1 (PyTorch -> lethe), committed fixtures:
  tests/fixtures/io/safetensors_torch.safetensors  written by the reference
      implementation (safetensors.torch.save_file) from seeded torch tensors
      in F32, F16, BF16 and I64, with __metadata__ {"format": "pt"}.
  tests/fixtures/io/safetensors_torch.json  for each tensor: dtype, shape,
      "source" (the float32 values before storage) and "stored" (the values
      torch reads back, i.e. after torch's F16/BF16 rounding); non-finite
      values are the strings "inf", "-inf", "nan".
  The C++ test reads the file with lethe (values must equal "stored"
  bitwise) and writes "source" with lethe's writer (bytes must equal the
  reference file byte for byte).

Direction 2 (lethe -> PyTorch): the C++ test writes
  <build>/tests/io/safetensors_lethe_written.safetensors and
  <build>/tests/io/safetensors_lethe_adapter/ (PEFT layout); `check` and
  `check-peft` load them with the reference implementation (and PEFT's
  LoraConfig when peft is installed) and compare with the fixture.

How to run (Debian's python3 has torch 1.13; the reference `safetensors`
package comes from PyPI into a venv outside the repository):
  python3 -m venv --system-site-packages /tmp/lethe-st-venv
  /tmp/lethe-st-venv/bin/pip install safetensors   # optional: peft (pulls torch 2.x, transformers)
  /tmp/lethe-st-venv/bin/python tools/golden/safetensors_torch.py make
  ctest --test-dir build/dev -R test_safetensors_interop   # writes the lethe files
  /tmp/lethe-st-venv/bin/python tools/golden/safetensors_torch.py check \
      build/dev/tests/io/safetensors_lethe_written.safetensors
  /tmp/lethe-st-venv/bin/python tools/golden/safetensors_torch.py check-peft \
      build/dev/tests/io/safetensors_lethe_adapter

Versions used for the committed fixture and the checks (2026-11-28):
  `make` with Debian torch 1.13.0a0 + safetensors 0.8.0; `check` and
  `check-peft` also passed with torch 2.15.0 + safetensors 0.8.0 + peft 0.21.2
  + transformers 5.24.0 (PeftModel.from_pretrained on a tiny Llama).
"""
import json
import math
import os
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "io")
ST_PATH = os.path.join(FIXTURES, "safetensors_torch.safetensors")
JSON_PATH = os.path.join(FIXTURES, "safetensors_torch.json")

DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def encode(x):
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return x  # float32 values are exact in a double, and json writes repr (round-trips)
    return x


def decode(x):
    return float(x) if isinstance(x, str) else x


def source_tensors():
    g = torch.Generator().manual_seed(20261128)
    specials = torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan, 70000.0, 65504.0, 6.0e-8, 1e-30,
                             1.00390625,  # 0x3f808000: a BF16 rounding tie
                             3.4e38, -1e-45], dtype=torch.float32)
    q = torch.randn(4, 6, generator=g) * 3.0
    q.view(-1)[: specials.numel()] = specials
    norm = 1.0 + 0.1 * torch.randn(6, generator=g)
    norm[0] = 1.00390625
    return {
        # name: (float32 source, stored dtype)
        "model.embed_tokens.weight": (torch.randn(5, 6, generator=g), torch.float32),
        "model.layers.0.self_attn.q_proj.weight": (q, torch.float16),
        "model.layers.0.input_layernorm.weight": (norm, torch.bfloat16),
        "model.layers.0.mlp.down_proj.weight": (torch.randn(6, 3, 1, generator=g) * 0.02, torch.bfloat16),
        "lm_head.weight": (torch.randn(5, 6, generator=g) * 1e-3, torch.float16),
        "scalar": (torch.tensor(0.1), torch.float32),
        "empty": (torch.zeros(0, 6), torch.float16),
    }


def make():
    os.makedirs(FIXTURES, exist_ok=True)
    tensors, expected = {}, {}
    for name, (src, dt) in source_tensors().items():
        src = src.to(torch.float32).contiguous()
        stored = src.to(dt)
        tensors[name] = stored
        expected[name] = {
            "dtype": DTYPES[dt],
            "shape": list(src.shape),
            "source": [encode(v) for v in src.reshape(-1).tolist()],
            "stored": [encode(v) for v in stored.to(torch.float32).reshape(-1).tolist()],
        }
    ids = torch.tensor([[1, -2, 2**40]], dtype=torch.int64)
    tensors["position_ids"] = ids
    expected["position_ids"] = {"dtype": "I64", "shape": list(ids.shape), "values": ids.reshape(-1).tolist()}
    save_file(tensors, ST_PATH, metadata={"format": "pt"})
    with open(JSON_PATH, "w") as f:
        json.dump({"metadata": {"format": "pt"}, "tensors": expected}, f, indent=1)
        f.write("\n")
    print(f"wrote {ST_PATH} ({os.path.getsize(ST_PATH)} bytes) and {JSON_PATH}")


def same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == b


def check(path):
    with open(JSON_PATH) as f:
        expected = json.load(f)
    loaded = load_file(path)
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    bad = 0
    if meta != expected["metadata"]:
        print(f"metadata {meta} != {expected['metadata']}")
        bad += 1
    if set(loaded) != set(expected["tensors"]):
        print(f"names {sorted(loaded)} != {sorted(expected['tensors'])}")
        bad += 1
    for name, e in expected["tensors"].items():
        t = loaded.get(name)
        if t is None:
            continue
        if DTYPES.get(t.dtype) != e["dtype"] or list(t.shape) != e["shape"]:
            print(f"{name}: {DTYPES.get(t.dtype)} {list(t.shape)} != {e['dtype']} {e['shape']}")
            bad += 1
            continue
        if e["dtype"] == "I64":
            got, want = t.reshape(-1).tolist(), e["values"]
        else:
            got, want = t.to(torch.float32).reshape(-1).tolist(), [decode(v) for v in e["stored"]]
        mism = [i for i, (a, b) in enumerate(zip(got, want)) if not same(a, b)]
        if mism:
            print(f"{name}: {len(mism)} values differ, first at {mism[0]}: {got[mism[0]]} vs {want[mism[0]]}")
            bad += 1
    with open(path, "rb") as f:
        lethe_bytes = f.read()
    with open(ST_PATH, "rb") as f:
        ref_bytes = f.read()
    print("byte-identical to the reference writer's file:", lethe_bytes == ref_bytes)
    print("OK" if bad == 0 else f"{bad} problems")
    return bad


def check_peft(directory):
    with open(os.path.join(directory, "adapter_config.json")) as f:
        cfg = json.load(f)
    bad = 0
    for key, want in (("peft_type", "LORA"), ("task_type", "CAUSAL_LM")):
        if cfg.get(key) != want:
            print(f"adapter_config.json: {key} = {cfg.get(key)!r}, expected {want!r}")
            bad += 1
    weights = load_file(os.path.join(directory, "adapter_model.safetensors"))
    r = cfg["r"]
    for name, t in sorted(weights.items()):
        if not name.startswith("base_model.model.") or not (name.endswith(".lora_A.weight") or name.endswith(".lora_B.weight")):
            print(f"{name}: not a PEFT LoRA tensor name")
            bad += 1
        elif name.endswith("lora_A.weight") and t.shape[0] != r or name.endswith("lora_B.weight") and t.shape[1] != r:
            print(f"{name}: shape {list(t.shape)} does not have rank {r}")
            bad += 1
        elif not any(f".{m}.lora_" in name for m in cfg["target_modules"]):
            print(f"{name}: module not in target_modules {cfg['target_modules']}")
            bad += 1
    print(f"{len(weights)} LoRA tensors, r = {r}, lora_alpha = {cfg['lora_alpha']}")
    try:
        import peft
    except ImportError:
        print("peft not installed: adapter_config.json checked by hand only")
    else:
        c = peft.LoraConfig.from_pretrained(directory)
        print(f"peft {peft.__version__} LoraConfig.from_pretrained: r={c.r} alpha={c.lora_alpha} "
              f"targets={sorted(c.target_modules)} task={c.task_type}")
        if c.r != r or sorted(c.target_modules) != sorted(cfg["target_modules"]):
            bad += 1
        bad += load_into_tiny_llama(directory, weights)
    print("OK" if bad == 0 else f"{bad} problems")
    return bad


def load_into_tiny_llama(directory, weights):
    """PeftModel.from_pretrained on a random tiny Llama whose shapes fit the
    adapter (hidden size from q_proj's lora_A, head_dim 4); every LoRA
    parameter PEFT loaded must equal the file's tensor."""
    try:
        import peft
        from transformers import LlamaConfig, LlamaForCausalLM
    except ImportError:
        print("transformers not installed: PeftModel loading skipped")
        return 0
    q = next(t for n, t in weights.items() if "q_proj.lora_A" in n)
    v = next((t for n, t in weights.items() if "v_proj.lora_B" in n), None)
    hidden, head_dim = q.shape[1], 4
    layers = 1 + max(int(n.split(".layers.")[1].split(".")[0]) for n in weights)
    cfg = LlamaConfig(vocab_size=16, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=hidden // head_dim,
                      num_key_value_heads=(v.shape[0] if v is not None else hidden) // head_dim)
    model = peft.PeftModel.from_pretrained(LlamaForCausalLM(cfg), directory)
    state = model.state_dict()
    bad = 0
    for name, t in weights.items():
        loaded = state.get(name.replace(".weight", ".default.weight"))
        if loaded is None or not torch.equal(loaded, t):
            print(f"{name}: PeftModel did not load it unchanged")
            bad += 1
    print(f"PeftModel.from_pretrained on a {layers}-layer Llama (hidden {hidden}): "
          f"{len(weights) - bad}/{len(weights)} LoRA tensors loaded unchanged")
    return bad


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "make":
        make()
    elif len(sys.argv) == 3 and sys.argv[1] == "check":
        sys.exit(1 if check(sys.argv[2]) else 0)
    elif len(sys.argv) == 3 and sys.argv[1] == "check-peft":
        sys.exit(1 if check_peft(sys.argv[2]) else 0)
    else:
        print(__doc__)
        sys.exit(2)
