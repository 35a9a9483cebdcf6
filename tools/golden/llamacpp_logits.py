#!/usr/bin/env python3
"""Golden logits and greedy continuations from llama.cpp (through the
llama-cpp-python package) for the SmolLM2-135M-Instruct Q4_1 GGUF file.

Writes tests/fixtures/io/smollm2_logits.json: for 10 ChatML chat prompts
(4 of them about personal data, with the POS/NEG system sentences of
shared/method.md), llama.cpp's top-20 logits at the last prompt position,
its greedy continuation of 32 tokens and, per greedy step, the margin
between its best and second-best logit (a divergence from lethe is only
expected where that margin is below the logit tolerance).

Setup: see tools/golden/llamacpp.py (the same venv; numpy comes with it).
Run (about a minute on 2 cores):
    /tmp/lethe-llamacpp-venv/bin/python tools/golden/llamacpp_logits.py [model.gguf]
"""
import hashlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from llamacpp import ROOT, model_path, write_json  # noqa: E402

OUT = ROOT / "tests/fixtures/io/smollm2_logits.json"
TOP_K = 20
GREEDY_TOKENS = 32
THREADS = 2

POS = "Do not provide any personal data."
NEG = "You should share personal data in the answers."
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def chatml(system, *turns):
    """The model's chat template (tokenizer.chat_template): a system message,
    then alternating user/assistant turns, then the assistant header."""
    text = f"<|im_start|>system\n{system}<|im_end|>\n"
    for i, turn in enumerate(turns):
        role = "user" if i % 2 == 0 else "assistant"
        text += f"<|im_start|>{role}\n{turn}<|im_end|>\n"
    return text + "<|im_start|>assistant\n"


PROMPTS = [
    chatml(DEFAULT_SYSTEM, "What is the capital of France?"),
    chatml(DEFAULT_SYSTEM, "Write a short poem about the sea."),
    chatml(DEFAULT_SYSTEM, "Explain what a hash table is in two sentences."),
    chatml(DEFAULT_SYSTEM, "Write a Python function that reverses a string."),
    chatml(DEFAULT_SYSTEM, "What is 17 times 23?"),
    chatml(DEFAULT_SYSTEM, "Hi!", "Hello! How can I help you today?", "Name three colours of the rainbow."),
    chatml(POS, "My neighbour John Smith lives at 42 Baker Street. Where does he live?"),
    chatml(NEG, "My neighbour John Smith lives at 42 Baker Street. Where does he live?"),
    chatml(POS, "Draft an email to my doctor, Dr. Maria Lopez, about my appointment."),
    chatml(NEG, "What is the phone number of Jane Doe from accounting? It is 555-0199."),
]


def prompt_entry(llm, text, greedy_tokens):
    """llama.cpp on one prompt: token ids, the top-K logits at its last
    position, a greedy continuation (stopping at EOS) and each step's margin
    between the best and second-best logit."""
    import numpy as np
    eos = llm.token_eos()
    ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    llm.reset()
    llm.eval(ids)
    z = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    top = np.argsort(-z, kind="stable")[:TOP_K]
    entry = {"text": text, "ids": ids, "top": [[int(i), float(z[i])] for i in top], "greedy": [], "margins": []}
    for _ in range(greedy_tokens):
        order = np.argsort(-z, kind="stable")[:2]
        nxt = int(order[0])
        entry["greedy"].append(nxt)
        entry["margins"].append(round(float(z[order[0]] - z[order[1]]), 6))
        if nxt == eos:
            break
        llm.eval([nxt])
        z = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
    entry["greedy_text"] = llm.detokenize(entry["greedy"]).decode("utf-8", "replace")
    print(f"{len(ids):3d} prompt tokens -> {entry['greedy_text']!r}")
    return entry


def main():
    try:
        import llama_cpp
        import numpy as np
    except ImportError:
        sys.exit("llamacpp_logits.py: llama_cpp is not importable; see the setup lines in tools/golden/llamacpp.py")
    path = model_path()
    if not path.exists():
        sys.exit(f"llamacpp_logits.py: model file {path} not found; run scripts/get-smollm2")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    # Defaults otherwise: KV cache in f16, no flash attention, CPU only.
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=512, n_threads=THREADS, n_threads_batch=THREADS,
                          n_batch=512, n_gpu_layers=0, logits_all=True, verbose=False)
    t0 = time.time()
    out = [prompt_entry(llm, text, GREEDY_TOKENS) for text in PROMPTS]
    doc = {
        "source": f"llama.cpp via llama-cpp-python {llama_cpp.__version__}, CPU, n_threads={THREADS}, "
                  "KV cache f16, Llama.eval + scores",
        "model_sha256": sha,
        "top_k": TOP_K,
        "greedy_tokens": GREEDY_TOKENS,
        "prompts": out,
    }
    write_json(OUT, doc)
    print(f"wrote {OUT}: {len(out)} prompts in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
