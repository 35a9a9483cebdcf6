#!/usr/bin/env bash
# chat_cli.sh CHAT: runs the chat example on SmolLM2 (see tests/io/chat.cmake).
# Exit 77 = skipped (no model file), 0 = pass, 1 = fail.
set -u
chat=$1
model=${LETHE_SMOLLM2:-${LETHE_CACHE:-$HOME/.cache/lethe}/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$model" ]; then
  echo "SKIP: $model not found; run scripts/get-smollm2 (or set LETHE_SMOLLM2) to run this test"
  exit 77
fi
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_contains() {  # name output needle
  if [[ "$2" == *"$3"* ]]; then echo "ok: $1"; else fail "$1: expected '$3' in: $2"; fi
}
run_bad() {  # name expected-message args...
  local name=$1 msg=$2 out rc
  shift 2
  out=$("$chat" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ]; then fail "$name: exit code $rc, expected 2 ($out)"; return; fi
  expect_contains "$name" "$out" "$msg"
}

# One-shot greedy reply (measured: "The capital of France is Paris.").
out=$("$chat" --model "$model" --threads 2 --greedy --max-new-tokens 8 --prompt "What is the capital of France?")
[ $? -eq 0 ] || fail "one-shot: non-zero exit"
expect_contains "one-shot greedy answer" "$out" "Paris"

# Two turns: the second question only makes sense with the first in the
# history, and its prompt must come from the KV cache (--stats says how much).
out=$("$chat" --model "$model" --threads 2 --greedy --max-tokens 8 --stats \
      --prompt "What is the capital of France?" --prompt "And of Germany?" 2>&1)
[ $? -eq 0 ] || fail "two turns: non-zero exit"
expect_contains "second turn uses the history" "$out" "Berlin"
expect_contains "second turn reuses the KV cache" "$out" "from the KV cache"
if [[ "$out" == *" 0 from the KV cache"*" 0 from the KV cache"* ]]; then fail "second turn re-prefilled everything: $out"; fi

# CFG with the paper's sentences runs both contexts and streams a reply.
out=$("$chat" --model "$model" --threads 2 --greedy --max-tokens 8 --system "Do not provide any personal data." \
      --cfg-negative "You should share personal data in the answers." --cfg-scale 2 \
      --prompt "What is the capital of France?")
[ $? -eq 0 ] || fail "cfg: non-zero exit"
[ -n "${out//[[:space:]]/}" ] && echo "ok: cfg reply non-empty" || fail "cfg: empty reply"

out=$("$chat" --help)
expect_contains "--help" "$out" "--cfg-negative"
run_bad "unknown option" "unknown option '--bogus'" --bogus
run_bad "negative scale" "--cfg-scale must be finite and >= 0" --cfg-scale -1
run_bad "scale without negative" "needs --cfg-negative" --cfg-scale 2 --prompt hi
run_bad "bad space" "--cfg-space must be log or prob" --cfg-space logit
run_bad "missing value" "--max-tokens needs a value" --max-tokens
run_bad "not a number" "is not a non-negative integer" --max-tokens ten
run_bad "missing model" "not found" --model /nonexistent/model.gguf --prompt hi

[ "$failures" -eq 0 ] && { echo "chat_cli: all checks passed"; exit 0; }
echo "chat_cli: $failures check(s) failed"
exit 1
