#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into tests/fuzz/corpus/<target>/.

Small valid inputs (a few KB per target), made with the standard library
only, so that the fuzzers start from files that get past the first checks.
Rerun after changing it; the output is deterministic:
    python3 tests/fuzz/make_corpus.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- GGUF
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)


def gstr(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    if t == STR:
        return gstr(v)
    if t == ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    fmt = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "?", U64: "Q", I64: "q",
           F64: "d"}[t]
    return struct.pack("<" + fmt, v)


def gguf(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, dims, ggml_type, data bytes)]."""
    out = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset, blobs = 0, []
    for name, dims, gt, data in tensors:
        out += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", gt, offset)
        blobs.append((offset, data))
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * ((-len(out)) % alignment)
    data = b""
    for off, blob in blobs:
        data += b"\0" * (off - len(data)) + blob
    return out + data


def f32s(*xs):
    return struct.pack("<%df" % len(xs), *xs)


def q8_0_block():
    return struct.pack("<e", 0.5) + bytes((i * 7) % 256 for i in range(32))


def make_gguf():
    write("gguf", "empty_v3.gguf", gguf([], []))
    write("gguf", "scalars_v2.gguf", gguf([("general.name", STR, "x"), ("a.u8", U8, 7), ("a.i16", I16, -3),
                                           ("a.f64", F64, 0.25), ("a.b", BOOL, True), ("a.u64", U64, 1 << 40),
                                           ("general.alignment", U32, 16)], [], version=2, alignment=16))
    toks = ["a", "b", "ab", "\u0120", "\u0120a", "<s>"]
    write("gguf", "tokenizer.gguf", gguf(
        [("tokenizer.ggml.model", STR, "gpt2"), ("tokenizer.ggml.pre", STR, "smollm"),
         ("tokenizer.ggml.tokens", ARR, (STR, toks)), ("tokenizer.ggml.token_type", ARR, (I32, [1, 1, 1, 1, 1, 3])),
         ("tokenizer.ggml.merges", ARR, (STR, ["a b", "\u0120 a"])), ("tokenizer.ggml.bos_token_id", U32, 5),
         ("tokenizer.ggml.add_bos_token", BOOL, True), ("nested", ARR, (ARR, [(U8, [1, 2]), (U8, [])]))],
        [("t.f32", [4], 0, f32s(1, -2, 3.5, 0)), ("t.q8", [32], 8, q8_0_block()),
         ("t.f16", [2, 2], 1, struct.pack("<4e", 1, 2, -0.5, 65504))]))
    d, ff, vocab = 4, 8, 6
    write("gguf", "llama.gguf", gguf(
        [("general.architecture", STR, "llama"), ("llama.attention.head_count", U32, 2),
         ("llama.attention.head_count_kv", U32, 1), ("llama.embedding_length", U32, d),
         ("llama.block_count", U32, 1), ("llama.feed_forward_length", U32, ff),
         ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5), ("llama.rope.freq_base", F32, 10000.0),
         ("llama.context_length", U32, 64)],
        [("token_embd.weight", [d, vocab], 0, f32s(*[0.1 * i for i in range(d * vocab)])),
         ("output_norm.weight", [d], 0, f32s(1, 1, 1, 1)),
         ("blk.0.attn_q.weight", [d, d], 0, f32s(*range(d * d))),
         ("blk.0.attn_k.weight", [d, d // 2], 0, f32s(*range(d * d // 2)))]))


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None):
    """tensors: [(name, dtype, shape, bytes)] in data order."""
    header, off = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((-len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(t[3] for t in tensors)


def make_safetensors():
    write("safetensors", "empty.safetensors", safetensors([]))
    write("safetensors", "f32.safetensors", safetensors([("w", "F32", [2, 2], f32s(1, 2, 3, 4))], {"format": "pt"}))
    write("safetensors", "mixed.safetensors", safetensors([
        ("ids", "I64", [3], struct.pack("<3q", 1, -2, 3)),
        ("h", "F16", [2], struct.pack("<2e", 1.5, -0.0)),
        ("b", "BF16", [1, 2], b"\x80\x3f\x00\xc0"),
        ("flag", "BOOL", [0], b""),
        ("s", "U8", [], b"\x07")]))


def make_peft():
    cfg = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4, "lora_dropout": 0.05,
           "target_modules": ["q_proj", "v_proj"], "base_model_name_or_path": "tiny", "bias": "none",
           "fan_in_fan_out": False, "inference_mode": True}
    p = "base_model.model.model.layers.0.self_attn.q_proj"
    weights = safetensors([(p + ".lora_A.weight", "F16", [2, 4], struct.pack("<8e", *range(8))),
                           (p + ".lora_B.weight", "F16", [4, 2], struct.pack("<8e", *range(8)))])
    write("peft", "adapter.bin", json.dumps(cfg).encode() + b"\0" + weights)
    cfg2 = dict(cfg, target_modules=".*proj", lora_alpha=0.5, lora_dropout=None)
    write("peft", "config_regex.json", json.dumps(cfg2))


def make_jsonl():
    d1 = {"id": "d1", "messages": [{"role": "user", "content": "How do I reach Sarah?"},
                                   {"role": "assistant", "content": " Email sarah.johnson@example.com or call "
                                                                    "+1 415 555 2671. "}]}
    d2 = {"conversations": [{"from": "human", "value": "Where does [NAME-1] live?"},
                            {"from": "gpt", "value": "[NAME-1] lives in [CITY-1]; born March 5, 1990."}],
          "pii": {"[NAME-1]": "Alice", "CITY-1": "Paris"}}
    d3 = {"id": 7, "messages": [{"role": "system", "content": "Be brief."},
                                {"role": "assistant", "content": "Call 030 12345678 or see https://x.example.org/a"}]}
    text = "\n".join([json.dumps(d1), "", json.dumps(d2), "{not json", json.dumps(d3)]) + "\n"
    for mode in (0, 1, 2 | 4 | 1, 8 | 1):
        write("jsonl", "dialogs_mode%d.jsonl" % mode, bytes([mode]) + text.encode())


def make_json_strings():
    lines = [b'{ "id" : 7, "text":"Mail jane@example.com",\t"tags":["a", "b\\u00e9"], "n":-1.5e3 }',
             b'{"messages":[{"role":"user","content":"hi \\"there\\"\\n\\ud83d\\ude00"}],"meta":{}}',
             b'"just a string"', b'[null, true, false, {"k": [[], {}]}]',
             b'{"bad utf8":"ok \xff \xc3 end"}', b'{"a":1,}']
    for i, line in enumerate(lines):
        write("json_strings", "line%d" % i, bytes([i % 3]) + line)


def make_tokenizer():
    samples = ["Hello world, the theme isn't 1234 apples!", "  spaces\t\tand\nnewlines  ",
               "<|im_start|>user\nhi<tool><|im_end|>", "caf\u00e9 \u00e9t\u00e9 \u4e2d\u6587 \U0001f600",
               "we're they'll I'd 12.5e3"]
    for i, s in enumerate(samples):
        write("tokenizer", "text%d" % i, bytes([i % 8]) + s.encode())
    write("tokenizer", "invalid_utf8", b"\x02ab\xff\xc3(\xe2\x82 \x80z")
    vocab = "a\nb\nab\n\xc4\xa0\n\x01<s>\n\x02<t>\n\x03a b\n"
    write("tokenizer", "own_vocab", b"\x82" + vocab.encode("latin-1") + b"\0ab <s>a b<t>ab")


def make_chat_template():
    write("chat_template", "chatml", b"\x04system\x1fBe brief.\x1euser\x1fHello!\x1eassistant\x1fHi.")
    write("chat_template", "llama3", b"\x03user\x1f  padded \n\x1eassistant\x1f\t\x1euser\x1fok")
    write("chat_template", "name", b"\x00llama-3\x1fx")


def make_scanner():
    text = ("Hi, I'm Sarah Johnson (sarah.johnson@example.com, +1 415 555 2671). My name is Xavi and I live in "
            "Springfield. SSN 123-45-6789, card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, born "
            "March 5th, 2021 or 2024-03-05 or 5/3/24. Server 192.168.10.24, fe80::1, https://a.example.org/p?q=1 "
            "and www.example.com. [NAME-1] -- caf\u00e9 M\u00fcller. Call (555) 123-4567 or 030 12345678.")
    write("scanner", "chat_all", b"\xff\xff\x00" + text.encode())
    write("scanner", "chat_hash", b"\x21\x1f\xa1" + text.encode())
    write("scanner", "chat_pseudonym", b"\x00\xd0\x03" + text.encode())
    write("scanner", "chat_mask", b"\x00\x90\x01" + text.encode())
    write("scanner", "invalid_utf8", b"\x00\x00\x00" + b"Dr. \xc3 Smith a@b.co\xff http://x.io/\xe2\x82")


def make_sampler_config():
    write("sampler_config", "full.json", json.dumps({
        "chain": ["logit_bias", "banned", "penalties", "top_k", "typical", "top_p", "min_p", "temperature"],
        "greedy": False, "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "typical_p": 1.0,
        "min_keep": 1, "repeat_penalty": 1.1, "frequency_penalty": 0.5, "presence_penalty": 0.25,
        "penalty_last_n": 64, "logit_bias": {"17": -2.5, "42": 1.0}, "banned_tokens": [3, 4],
        "stop_tokens": [2], "stop_strings": ["\n\n"], "max_new_tokens": 128, "seed": 1234}))
    write("sampler_config", "empty.json", "{}")
    write("sampler_config", "greedy.json", '{"greedy": true, "chain": ["temperature", "top_k"], "top_k": 0}')
    write("sampler_config", "typical.json", '{"typical_p": 0.5, "temperature": 1.5, "seed": 0, "min_keep": 3}')


def make_privacy_policy():
    write("privacy_policy", "doc.json", json.dumps({
        "default": "placeholder", "seed": 7, "scope": "document", "refusal": "No.",
        "entities": {"EMAIL": {"operator": "mask", "keep_last": 4, "mask_char": "#"}, "PHONE": "pseudonym"}}))
    write("privacy_policy", "all_ops.json", json.dumps({
        "default": {"operator": "redact", "text": "[x]"}, "scope": "dataset",
        "entities": {"PERSON": "numbered", "URL": {"operator": "hash", "hash_hex_chars": 8}, "DATE": "keep",
                     "IBAN": "pseudonym", "CREDIT_CARD": "pseudonym", "US_SSN": "pseudonym", "IPV4": "pseudonym",
                     "IPV6": "pseudonym", "LOCATION": "pseudonym"}}))
    write("privacy_policy", "refuse.json", '{"entities": {"US_SSN": "refuse"}, "refusal": "I can\'t."}')


if __name__ == "__main__":
    make_gguf()
    make_safetensors()
    make_peft()
    make_jsonl()
    make_json_strings()
    make_tokenizer()
    make_chat_template()
    make_scanner()
    make_sampler_config()
    make_privacy_policy()
