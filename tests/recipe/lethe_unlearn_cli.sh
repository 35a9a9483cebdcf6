#!/usr/bin/env bash
# lethe_unlearn_cli.sh UNLEARN DIALOGS [MODEL]: lethe-unlearn end to end on a
# small model (every subcommand on a few rows) and on bad input: a dialogs
# line that is not JSON, an unknown role, a truncated model, a config with an
# unknown key each give a clear error naming the file, line and field, exit 1,
# and no output file. --resume after a kill (exit 137 after step 2) ends with
# the same adapter, byte for byte, as an uninterrupted run.
# Exit 77 (skipped) when MODEL does not exist, 0 = pass, 1 = fail.
set -u
prog=$1
dialogs_prog=$2
# MODEL defaults to SmolLM2-135M-Instruct from scripts/get-smollm2's cache.
model=${3:-${LETHE_SMOLLM2:-${LETHE_CACHE:-$HOME/.cache/lethe}/SmolLM2-135M-Instruct.Q4_1.gguf}}
[ -f "$model" ] || { echo "skip: no model at $model"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lethe-unlearn-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
expect_contains() {  # name haystack needle
  if [[ "$2" == *"$3"* ]]; then ok "$1"; else fail "$1: expected '$3' in: $2"; fi
}
run_rc() {  # name expected-rc expected-message args... ; sets $out
  local name=$1 want=$2 msg=$3 rc
  shift 3
  out=$("$prog" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then fail "$name: exit code $rc, expected $want ($out)"; return; fi
  expect_contains "$name" "$out" "$msg"
}
# Small and quick: 1 epoch, a few pairs, 4 attack tokens, 2 held-out dialogs.
quick=(--threads 1 --max-seq 320 --epochs 1 --batch 2 --max-pairs 4 --max-new-tokens 4 --max-dialogs 2 --lr 1e-3)

# --- arguments and config
run_rc "help" 0 "usage: lethe-unlearn" --help
run_rc "unknown command" 2 "unknown command 'frob'" frob
run_rc "unknown flag" 2 "unknown argument '--bogus'" pairs --bogus
run_rc "bad number" 2 "--epochs: 'two' is not a non-negative integer" train --epochs two
echo '{"model": "m.gguf", "train": {"lrr": 0.1}}' > bad_key.json
run_rc "config: unknown key" 1 "unknown key 'train.lrr'" run --config bad_key.json
expect_contains "config: names the file" "$out" "bad_key.json"
echo '{"model": "m.gguf", "train": {"epochs": "three"}}' > bad_type.json
run_rc "config: wrong type" 1 "train.epochs: wrong type" run --config bad_type.json
echo '{"model": ' > bad_json.json
run_rc "config: not JSON" 1 "bad_json.json: invalid JSON" run --config bad_json.json

# --- dialogs
"$dialogs_prog" --people 8 --seed 3 --out dialogs.jsonl >/dev/null || fail "synthetic-dialogs failed"
{ head -n 2 dialogs.jsonl; echo '{"messages": [oops'; } > bad_line.jsonl
run_rc "dialogs: not JSON" 1 "bad_line.jsonl:3" pairs --dialogs bad_line.jsonl --out pairs_bad
[ ! -e pairs_bad ] && ok "dialogs: no partial output" || fail "dialogs: pairs_bad was written"
echo '{"messages": [{"role": "user", "content": "hi"}, {"role": "robot", "content": "beep"}]}' > bad_role.jsonl
run_rc "dialogs: unknown role" 1 "messages[1].role: unknown role 'robot'" pairs --dialogs bad_role.jsonl --out pairs_bad
expect_contains "dialogs: names the line" "$out" "bad_role.jsonl:1"
run_rc "dialogs: skip malformed" 0 "malformed lines skipped 1" pairs --dialogs bad_line.jsonl --out pairs_skip --on-malformed skip --test-fraction 0.3

# --- model
head -c 4096 "$model" > truncated.gguf
run_rc "model: truncated" 1 "truncated.gguf" train --model truncated.gguf --pairs pairs_skip/train.jsonl --out a_bad
[ ! -e a_bad ] && ok "model: no partial adapter" || fail "model: a_bad was written"

# --- pairs, train, resume, eval, export, subtract
run_rc "pairs" 0 "wrote pairs/train.jsonl" pairs --model "$model" --dialogs dialogs.jsonl --out pairs --test-fraction 0.3
[ -s pairs/train.jsonl ] && [ -s pairs/test.jsonl ] && ok "pairs: both splits written" || fail "pairs: empty split"
run_rc "train" 0 "wrote adapter" train --model "$model" --pairs pairs/train.jsonl --out adapter_a "${quick[@]}" --checkpoint-every 1
[ -f adapter_a/adapter_model.safetensors ] && [ -f adapter_a/adapter_config.json ] && ok "train: PEFT files" || fail "train: no PEFT files"
out=$("$prog" train --model "$model" --pairs pairs/train.jsonl --out adapter_b "${quick[@]}" --checkpoint-every 1 --abort-after-step 1 2>&1)
rc=$?
[ "$rc" -eq 137 ] && ok "train: killed after step 1" || fail "train: kill exit $rc ($out)"
[ ! -e adapter_b ] && [ -f adapter_b.ckpt/orpo_state.safetensors ] && ok "train: checkpoint, no adapter yet" || fail "train: after kill"
run_rc "train: resume" 0 "resuming" train --model "$model" --pairs pairs/train.jsonl --out adapter_b "${quick[@]}" --checkpoint-every 1 --resume
cmp -s adapter_a/adapter_model.safetensors adapter_b/adapter_model.safetensors && ok "resume: adapter equals the uninterrupted run's" || fail "resume: adapters differ"
run_rc "train: resume with other options" 1 "other pairs or options" train --model "$model" --pairs pairs/train.jsonl --out adapter_b "${quick[@]}" --lr 5e-4 --resume
echo '{"question": "What is 2 plus 2?", "choices": ["4", "5"], "answer": 0}' > mc.jsonl
run_rc "eval" 0 "wrote report" eval --model "$model" --adapter adapter_a --dialogs dialogs.jsonl --test-fraction 0.3 --questions mc.jsonl --out report "${quick[@]}" --cfg-scale 3
grep -q '"attack_attempts"' report/metrics.json && grep -q '"user_mc_accuracy"' report/metrics.json && ok "eval: metrics.json" || fail "eval: metrics.json"
[ -s report/leakage_vs_guidance.svg ] && ok "eval: plot" || fail "eval: no plot"
run_rc "export" 0 "merged weights" export --model "$model" --adapter adapter_a --out export --formats peft,safetensors
[ -f export/merged/model.safetensors ] && [ -f export/adapter/adapter_config.json ] && ok "export: files" || fail "export: files"
run_rc "subtract" 0 "wrote sub" subtract --base "$model" --leaky "$model" --out sub
[ -f sub/model.safetensors ] && ok "subtract: model" || fail "subtract: no model"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
