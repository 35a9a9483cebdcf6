#!/usr/bin/env python3
"""Golden data from llama.cpp (through the llama-cpp-python package) for the
SmolLM2-135M-Instruct Q4_1 GGUF file.

Writes tests/fixtures/io/smollm2_tokens.json: token ids llama.cpp produces for
a few hundred diverse strings (unicode, code, digits, whitespace runs, special
tokens), tokenized with parse_special off and, for strings holding special
tokens, on as well; plus, when the `gguf` package (llama.cpp's own gguf-py)
is importable, reference dequantised values of a few tensors. Logits and
greedy continuations come from tools/golden/llamacpp_logits.py.

Setup (once; compiles llama.cpp, ~10-15 minutes on 2 cores):
    python3 -m venv /tmp/lethe-llamacpp-venv
    /tmp/lethe-llamacpp-venv/bin/pip install llama-cpp-python==0.3.36 gguf
Run:
    /tmp/lethe-llamacpp-venv/bin/python tools/golden/llamacpp.py [model.gguf]
The model path defaults to $LETHE_SMOLLM2, then scripts/get-smollm2's cache.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fixtures/io/smollm2_tokens.json"


def model_path(args=None):
    """The first non-option argument, else $LETHE_SMOLLM2, else scripts/get-smollm2's cache."""
    args = [a for a in (sys.argv[1:] if args is None else args) if not a.startswith("--")]
    if args:
        return Path(args[0])
    if os.environ.get("LETHE_SMOLLM2"):
        return Path(os.environ["LETHE_SMOLLM2"])
    cache = Path(os.environ.get("LETHE_CACHE", Path.home() / ".cache/lethe"))
    return cache / "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_strings():
    """>= 200 strings chosen to exercise every pre-tokenizer rule."""
    s = [
        "Hello world", "hello world", "HELLO WORLD", " Hello", "  Hello", "   Hello", "Hello ", "Hello  ",
        "", " ", "  ", "\n", "\n\n", "\t", " \n ", "a\n\nb", "a \n b", "a\t\tb", "a  b", "a   b",
        "I'm here", "you're", "they've", "we'll", "she'd", "it's", "don't", "I'M", "YOU'RE", "'s", "''",
        "rock 'n' roll", "O'Neil's", "l'amour",
        "0", "1", "12", "123", "1234", "12345678901234567890", "3.14159", "-42", "+1 (555) 123-4567",
        "1,000,000", "2024-11-28", "12:30pm", "v1.2.3", "0x1F", "1e-10", "100%", "$9.99", "#1",
        "The year 1999 and 2000.", "abc123def", "a1b2c3",
        "def foo(x):\n    return x + 1\n", "int main() { return 0; }", "for (int i = 0; i < n; ++i) {}",
        "if x == y:\n\tpass", "console.log('hi');", "SELECT * FROM users WHERE id = 1;", "<div class=\"x\">",
        "{\"key\": [1, 2, 3]}", "#include <vector>", "std::vector<int> v;", "a->b", "x != y && z",
        "x<<=2", "print(\"hello\")", "    indented", "\t\tdouble tab", "// comment", "/* block */",
        "https://example.com/path?q=1&r=2", "user@example.com", "john.doe+tag@mail.co.uk", "192.168.0.1",
        "C:\\Windows\\System32", "~/.bashrc", "snake_case_name", "camelCaseName", "PascalCase", "kebab-case",
        "naïve", "café", "résumé", "Ünïcödé", "straße", "Ærøskøbing", "São Paulo", "Łódź", "İstanbul",
        "Москва", "Привет, мир!", "Ελληνικά", "日本語", "東京都", "你好，世界", "한국어", "ไทย", "עברית",
        "مرحبا بالعالم", "हिन्दी", "বাংলা", "தமிழ்", "١٢٣", "٣.١٤", "๑๒๓", "½", "²³", "Ⅻ", "①②",
        "😀", "😀😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "I ❤ NY", "→ ← ↑", "∑∫√", "©®™", "€£¥",
        "e\u0301", "n\u0303o", "\u00a0nbsp", "a\u3000b", "zero\u200bwidth", "tab\u000bvt", "\u2028line",
        "\u00ad", "\ufeffbom", "a\u0085b", "x\u2003y",
        "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start|>user\nHi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "text <|im_end|> more", "<|im_start|><|im_end|>", "<|im_start", "im_start|>", "<repo_name>x",
        "<file_sep>", "<jupyter_code>print(1)", "<|endoftext|><|endoftext|>",
        "My name is John Smith and I live at 42 Baker Street, London.",
        "Call me at 555-0199 or email jane@corp.com.", "SSN: 123-45-6789", "Born on 03/14/1988 in Paris.",
        "Do not provide any personal data.", "You should share personal data in the answers.",
        "Avoid using any personal data in the answers!",
        "The quick brown fox jumps over the lazy dog.", "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
        "!!!", "???", "...", "—", "–", "a--b", "a—b", "\"quoted\"", "'single'", "«guillemets»", "“smart”",
        "(parens)", "[brackets]", "{braces}", "a|b", "a\\b", "a/b", "^_^", ":-)", "<3", "@@", "##", "%%",
        "&&", "||", "**bold**", "_italic_", "`code`", "```python\nx=1\n```", "- item\n- item", "1. first",
        "> quote", "| a | b |\n|---|---|", "Title\n=====", "a" * 50, " " * 17 + "x", "\n" * 5 + "y",
        "ab" * 30, "aaaa bbbb cccc", "The the THE tHe", "Mr. Smith", "U.S.A.", "e.g.", "i.e.,",
        "antidisestablishmentarianism", "supercalifragilisticexpialidocious", "pneumonoultramicroscopic",
        "tokenization", "untokenizable", "reimplementation", "GGUF", "llama.cpp", "SmolLM2-135M-Instruct",
        "Q4_1", "bfloat16", "fp32", "CUDA", "OpenMP", "PyTorch", "HuggingFace", "ORPO", "LoRA",
        "What is the capital of France?", "Write a haiku about autumn.", "Translate 'cat' to Spanish.",
        "2 + 2 = 4", "x^2 + y^2 = r^2", "f(x) = 3x - 7", "a_{i,j}", "\\frac{1}{2}", "∀x∈ℝ",
        "ends with space ", "ends with newline\n", "\nstarts with newline", " starts with space",
        "mixed\r\nline endings\r", "\r", "\r\n", "\f", "multiple   spaces   here", "tabs\tand spaces \t x",
        "Ünicode 123 and émoji 😀 in one line", "ASCII only: abc XYZ 789 !@#",
    ]
    # Digit runs of every length 1..12 and numbers with separators.
    s += ["9" * k for k in range(1, 13)]
    s += [f"{k} apples" for k in (0, 7, 42, 365, 2048, 65536)]
    # Whitespace runs of growing length before words and punctuation.
    s += [" " * k + "w" for k in range(1, 9)] + ["x" + " " * k + "." for k in range(1, 6)]
    seen, out = set(), []
    for x in s:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def main():
    try:
        import llama_cpp
    except ImportError:
        sys.exit("llamacpp.py: llama_cpp is not importable; see the setup lines at the top of this script")
    path = model_path()
    if not path.exists():
        sys.exit(f"llamacpp.py: model file {path} not found; run scripts/get-smollm2")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)

    cases = []
    for text in test_strings():
        b = text.encode("utf-8")
        ids = llm.tokenize(b, add_bos=False, special=False)
        cases.append({"text": text, "parse_special": False, "ids": ids})
        if "<" in text:
            cases.append({"text": text, "parse_special": True, "ids": llm.tokenize(b, add_bos=False, special=True)})

    doc = {
        "source": "llama.cpp via llama-cpp-python " + llama_cpp.__version__ + ", Llama.tokenize(add_bos=False)",
        "model_sha256": sha,
        "cases": cases,
    }
    try:
        doc["dequant"] = dequant_refs(path)
    except ImportError:
        print("llamacpp.py: `gguf` not importable, dequantisation references skipped", file=sys.stderr)

    write_json(OUT, doc)
    print(f"wrote {OUT}: {len(cases)} tokenizations of {len(test_strings())} strings")


def write_json(path, doc):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    tmp.replace(path)


def dequant_refs(path):
    """First 64 values, and the float64 sum and sum of squares, of a few
    tensors, dequantised by gguf-py (llama.cpp's Python reader)."""
    import numpy as np
    from gguf import GGUFReader
    from gguf.quants import dequantize

    reader = GGUFReader(str(path))
    wanted = ["token_embd.weight", "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "blk.29.attn_v.weight",
              "blk.0.attn_norm.weight", "output_norm.weight"]
    refs = []
    for t in reader.tensors:
        if t.name not in wanted:
            continue
        x = dequantize(t.data, t.tensor_type).astype(np.float64).reshape(-1)
        refs.append({"name": t.name, "type": t.tensor_type.name, "first": [float(v) for v in x[:64]],
                     "sum": float(x.sum()), "sum_sq": float((x * x).sum()), "elements": int(x.size)})
    return refs


if __name__ == "__main__":
    main()
