#!/usr/bin/env python3
"""Golden logits of llama.cpp running a LoRA adapter that lethe exported.

tests/io/test_gguf_lora_smollm2.cpp writes a seeded rank-16 adapter for
SmolLM2-135M-Instruct with lethe::io::write_gguf_lora to
<build>/tests/io/smollm2_test_lora.gguf (before it reads the fixture, so a
first run writes the file and then fails). This script loads the base GGUF
with that file as llama.cpp's LoRA (llama-cli --lora: scale 1, alpha / r
from adapter.lora.alpha) and writes tests/fixtures/io/smollm2_lora_logits.json:
the prompts of llamacpp_logits.py with the top-20 logits at the last prompt
position, a greedy continuation of 16 tokens and each step's margin, plus
each adapter tensor's sum, sum of squares and position-weighted sum as
llama.cpp's gguf-py reads them (the test checks that it wrote the same
adapter, rows in the same order).

Setup: see tools/golden/llamacpp.py (the same venv, with gguf and numpy).
Run (under a minute on 2 cores):
    ctest --test-dir build/dev -R test_gguf_lora_smollm2     # writes the adapter
    /tmp/lethe-llamacpp-venv/bin/python tools/golden/llamacpp_lora.py \\
        build/dev/tests/io/smollm2_test_lora.gguf [model.gguf]
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp import ROOT, model_path, write_json  # noqa: E402
from llamacpp_logits import PROMPTS, THREADS, TOP_K, prompt_entry  # noqa: E402

OUT = ROOT / "tests/fixtures/io/smollm2_lora_logits.json"
GREEDY_TOKENS = 16


def main():
    try:
        import gguf
        import llama_cpp
        import numpy as np
    except ImportError:
        sys.exit("llamacpp_lora.py: llama_cpp, gguf or numpy is not importable; see tools/golden/llamacpp.py")
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    adapter = Path(args[0] if args else ROOT / "build/dev/tests/io/smollm2_test_lora.gguf")
    if not adapter.exists():
        sys.exit(f"llamacpp_lora.py: {adapter} not found; run ctest -R test_gguf_lora_smollm2 first")
    path = model_path(args[1:])
    if not path.exists():
        sys.exit(f"llamacpp_lora.py: model file {path} not found; run scripts/get-smollm2")

    reader = gguf.GGUFReader(str(adapter))
    tensors = {}
    for t in reader.tensors:
        v = np.asarray(t.data, dtype=np.float64).reshape(-1)  # row-major, as stored
        w = 1.0 + np.arange(v.size) % 101  # position weights: a permutation of rows changes the sum
        tensors[t.name] = {"sum": float(v.sum()), "sum_sq": float((v * v).sum()), "weighted": float((w * v).sum())}

    llm = llama_cpp.Llama(model_path=str(path), lora_path=str(adapter), lora_scale=1.0, n_ctx=512,
                          n_threads=THREADS, n_threads_batch=THREADS, n_batch=512, n_gpu_layers=0,
                          logits_all=True, verbose=False)
    t0 = time.time()
    out = [prompt_entry(llm, text, GREEDY_TOKENS) for text in PROMPTS]
    doc = {
        "source": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}, CPU, n_threads={THREADS}, "
                  "KV cache f16, Llama(lora_path=..., lora_scale=1.0), Llama.eval + scores",
        "adapter": adapter.name,
        "adapter_tensors": tensors,
        "top_k": TOP_K,
        "greedy_tokens": GREEDY_TOKENS,
        "prompts": out,
    }
    write_json(OUT, doc)
    print(f"wrote {OUT}: {len(out)} prompts, {len(tensors)} adapter tensors in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
