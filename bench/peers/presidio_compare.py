#!/usr/bin/env python3
"""Per-type precision and recall of lethe's scanner and Microsoft Presidio on
the same labelled corpus (bench/peers/pii_corpus.py), in the same run.

lethe runs as the lethe-scrub program (--spans, JSONL in, byte offsets out);
Presidio as presidio_analyzer.AnalyzerEngine (PyPI) with its default
recognisers. Presidio's PERSON and LOCATION come from a spaCy NER model; pass
--spacy-model en_core_web_lg (or _sm) where one is installed. Without one
(the spaCy models are downloaded from GitHub releases, not PyPI) Presidio
runs on a blank English pipeline: its pattern recognisers only, and its
PERSON/LOCATION rows are reported as "no model", not as zeros.

Matching: a found span counts for precision when it overlaps a gold span of
the same type; a gold span counts for recall when a found span of its type
overlaps it ("overlap"), or has exactly its bounds ("exact", shown beside).

Usage:
  pip install presidio-analyzer==2.2.366 faker==40.63.0
  python3 bench/peers/pii_corpus.py --n 2000 --out pii.jsonl
  python3 bench/peers/presidio_compare.py --corpus pii.jsonl --lethe-scrub build/release/examples/lethe-scrub \
      --json bench/results/presidio.json
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

TYPES = ["PERSON", "LOCATION", "ADDRESS", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP", "URL", "US_SSN", "DATE"]
LETHE = {"PERSON": "PERSON", "LOCATION": "LOCATION", "ADDRESS": "ADDRESS", "EMAIL": "EMAIL", "PHONE": "PHONE",
         "CREDIT_CARD": "CREDIT_CARD", "IBAN": "IBAN", "IPV4": "IP", "IPV6": "IP", "URL": "URL", "US_SSN": "US_SSN",
         "DATE": "DATE"}
PRESIDIO = {"PERSON": "PERSON", "LOCATION": "LOCATION", "EMAIL_ADDRESS": "EMAIL", "PHONE_NUMBER": "PHONE",
            "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP", "URL": "URL", "US_SSN": "US_SSN",
            "DATE_TIME": "DATE"}


def byte_to_char(text):
    """Map from UTF-8 byte offset to code point offset."""
    m, b = {}, 0
    for i, ch in enumerate(text):
        m[b] = i
        b += len(ch.encode("utf-8"))
    m[b] = len(text)
    return m


def run_lethe(exe, docs):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "in.jsonl")
        with open(path, "w", encoding="utf-8") as f:
            for doc in docs:
                f.write(json.dumps({"text": doc["text"]}, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        p = subprocess.run([exe, "--spans", "--no-report", "--format", "jsonl", path], capture_output=True, text=True,
                           check=True)
        seconds = time.perf_counter() - t0
    lines = p.stdout.splitlines()
    if len(lines) != len(docs):
        sys.exit(f"lethe-scrub gave {len(lines)} lines for {len(docs)} documents")
    found = []
    for doc, line in zip(docs, lines):
        m = byte_to_char(doc["text"])
        found.append([(m[s["begin"]], m[s["end"]], LETHE[s["type"]]) for s in json.loads(line) if s["type"] in LETHE])
    return found, seconds


def run_presidio(docs, model):
    import logging
    logging.getLogger("tldextract").setLevel(logging.CRITICAL)  # offline: it falls back to its bundled suffix list
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    tmp = None
    if model is None:
        import spacy
        tmp = tempfile.TemporaryDirectory()
        spacy.blank("en").to_disk(tmp.name)
        model = tmp.name
    engine = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": model}]}).create_engine()
    analyzer = AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])
    analyzer.analyze(text="warm up 8.8.8.8", language="en")
    t0 = time.perf_counter()
    found = []
    for doc in docs:
        rs = analyzer.analyze(text=doc["text"], language="en")
        found.append([(r.start, r.end, PRESIDIO[r.entity_type]) for r in rs if r.entity_type in PRESIDIO])
    return found, time.perf_counter() - t0


def score(docs, found):
    gold_n, hit_overlap, hit_exact = collections.Counter(), collections.Counter(), collections.Counter()
    pred_n, pred_ok = collections.Counter(), collections.Counter()
    for doc, spans in zip(docs, found):
        gold = [(g["start"], g["end"], g["type"]) for g in doc["spans"]]
        for gb, ge, gt in gold:
            gold_n[gt] += 1
            same = [(b, e) for b, e, t in spans if t == gt and b < ge and e > gb]
            hit_overlap[gt] += bool(same)
            hit_exact[gt] += (gb, ge) in same
        for b, e, t in spans:
            pred_n[t] += 1
            pred_ok[t] += any(gt == t and gb < e and ge > b for gb, ge, gt in gold)
    rows = {}
    for t in TYPES:
        rows[t] = {
            "gold": gold_n[t], "found": pred_n[t],
            "recall": hit_overlap[t] / gold_n[t] if gold_n[t] else None,
            "recall_exact": hit_exact[t] / gold_n[t] if gold_n[t] else None,
            "precision": pred_ok[t] / pred_n[t] if pred_n[t] else None,
        }
    return rows


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--lethe-scrub", required=True)
    ap.add_argument("--spacy-model", default=None, help="spaCy pipeline name or path for Presidio's NER")
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()
    with open(a.corpus, encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    chars = sum(len(d["text"]) for d in docs)
    lethe_found, lethe_s = run_lethe(a.lethe_scrub, docs)
    presidio_found, presidio_s = run_presidio(docs, a.spacy_model)
    lethe_rows, presidio_rows = score(docs, lethe_found), score(docs, presidio_found)
    no_ner = a.spacy_model is None
    print(f"corpus {a.corpus}: {len(docs)} messages, {chars} characters")
    print(f"lethe-scrub {lethe_s:.3f} s (process start and JSONL included); Presidio {presidio_s:.2f} s "
          f"({'pattern recognisers only, no NER model' if no_ner else 'spaCy ' + a.spacy_model})")
    print()
    print("| type | gold | lethe P | lethe R | lethe R exact | Presidio P | Presidio R | Presidio R exact |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for t in TYPES:
        lr, pr = lethe_rows[t], presidio_rows[t]
        if no_ner and t in ("PERSON", "LOCATION"):
            pcells = "no model | no model | no model"
        elif t == "ADDRESS":
            pcells = "no recogniser | no recogniser | no recogniser"
        else:
            pcells = f"{pct(pr['precision'])} | {pct(pr['recall'])} | {pct(pr['recall_exact'])}"
        print(f"| {t} | {lr['gold']} | {pct(lr['precision'])} | {pct(lr['recall'])} | {pct(lr['recall_exact'])} | {pcells} |")
    if a.json:
        out = {"corpus": a.corpus, "messages": len(docs), "characters": chars, "lethe_seconds": lethe_s,
               "presidio_seconds": presidio_s, "presidio_ner": a.spacy_model, "lethe": lethe_rows, "presidio": presidio_rows}
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=1)
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
