#!/usr/bin/env bash
# smollm2_unlearn.sh PROGRAM: the recipe on SmolLM2 (examples/smollm2_unlearn.cpp)
# with --smoke: every stage runs on a few rows and writes its outputs; and
# bad arguments are rejected. Label `model`; exit 77 (skipped) without the
# SmolLM2 file (scripts/get-smollm2), 0 = pass, 1 = fail.
set -u
prog=$1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_contains() {  # name haystack needle
  if [[ "$2" == *"$3"* ]]; then echo "ok: $1"; else fail "$1: expected '$3' in: $2"; fi
}
run_bad() {  # name expected-message args...
  local name=$1 msg=$2 out rc
  shift 2
  out=$("$prog" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne 2 ]; then fail "$name: exit code $rc, expected 2 ($out)"; return; fi
  expect_contains "$name" "$out" "$msg"
}

# Arguments are checked before the model is needed.
out=$("$prog" --help)
[ $? -eq 0 ] || fail "--help: non-zero exit"
expect_contains "--help lists --people" "$out" "--people N"
run_bad "unknown flag" "unknown argument '--bogus'" --bogus
run_bad "missing value" "--people needs a value" --people
run_bad "people not a number" "--people: 'ten' is not a non-negative integer" --people ten
run_bad "people out of range" "--people: 2 is outside [4, 400]" --people 2
run_bad "threads zero" "--threads: 0 is outside [1, 1024]" --threads 0
run_bad "unknown variants" "--variants: 'all' is not table1, ch or leaky" --variants all
run_bad "unknown chosen" "--chosen: 'fake' is not generated or placeholder" --chosen fake
run_bad "replay out of range" "--replay: 99 is outside [0, 32]" --replay 99
run_bad "leaky lr out of range" "--leaky-lr must be in (0, 1]" --leaky-lr 0
run_bad "unknown lora target" "target module 'qproj' is not a linear layer" --lora-targets q_proj,qproj
run_bad "empty leaky cache" "--leaky-cache needs a directory name" --leaky-cache ""
run_bad "cfg scale out of range" "--cfg-scales: 0.5 is outside [1, 10]" --cfg-scales 2,0.5
run_bad "cfg scale not a number" "--cfg-scales: 'x' is not a number" --cfg-scales x
run_bad "no cfg scale" "--cfg-scales needs at least one scale" --cfg-scales ,
run_bad "unknown cfg space" "--cfg-spaces: 'logit' is not log or prob" --cfg-spaces log,logit
run_bad "orpo seed without ch" "--orpo-seed applies with --variants ch" --orpo-seed 5
run_bad "orpo seed not a number" "--orpo-seed: 'x' is not a non-negative integer" --orpo-seed x --variants ch

out=$("$prog" --model /nonexistent/model.gguf 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "missing model: exit code $rc, expected 1"
expect_contains "missing model names get-smollm2" "$out" "scripts/get-smollm2"

model=${LETHE_SMOLLM2:-${LETHE_CACHE:-$HOME/.cache/lethe}/SmolLM2-135M-Instruct.Q4_1.gguf}
if [ ! -f "$model" ]; then
  echo "SKIP: $model not found; run scripts/get-smollm2 (or set LETHE_SMOLLM2) to run the smoke run"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
out=$("$prog" --smoke --quiet --model "$model" --out "$dir/out" 2>&1)
rc=$?
echo "$out" | tail -25
[ "$rc" -eq 0 ] || fail "smoke run: exit code $rc"
for f in metrics.json report.md training_curves.svg leakage_vs_guidance.svg; do
  [ -s "$dir/out/$f" ] || fail "smoke run did not write $f"
done
# Every variant of Table 1 (both CFG spaces) plus the unmodified base, each
# with the extra world-utility measurement.
m="$dir/out/metrics.json"
names=$(grep -o '"name": "[^"]*"' "$m" | sed 's/"name": "\(.*\)"/\1/' | tr '\n' ' ')
want="base leaky sub sub-lora sub-lora-cfg=2 sub-lora-cfg=2-prob ch-lora ch-lora-cfg=1 ch-lora-cfg=2 ch-lora-cfg=3 ch-lora-cfg=1-prob ch-lora-cfg=2-prob ch-lora-cfg=3-prob "
[ "$names" = "$want" ] && echo "ok: metrics.json names every variant" || fail "variants: got '$names'"
n_world=$(grep -c '"world_utility_accuracy"' "$m")
n_general=$(grep -c '"general_answers"' "$m")
[ "$n_general" -eq 13 ] && echo "ok: general answers per variant" || fail "general_answers: $n_general of 13 variants"
[ "$n_world" -eq 13 ] && echo "ok: world utility per variant" || fail "world_utility_accuracy: $n_world of 13 variants"
# Every variant attacked at least once (no "attack_attempts": 0).
if grep -q '"attack_attempts": 0[,}]' "$m"; then fail "a variant made no attack attempt"; else echo "ok: attempts"; fi
expect_contains "smoke flag recorded" "$(cat "$m")" '"smoke": true'

# --leaky-cache: the first run saves the leaky model, the second loads it and
# scores it the same; other settings retrain it and replace the cache.
"$prog" --smoke --quiet --variants leaky --model "$model" --leaky-cache "$dir/cache" --out "$dir/c1" > "$dir/c1.log" 2>&1 ||
  fail "cache run 1: exit code $?"
expect_contains "cache saved" "$(cat "$dir/c1.log")" "leaky model saved to"
out=$("$prog" --smoke --quiet --variants leaky --model "$model" --leaky-cache "$dir/cache" --out "$dir/c2" 2>&1) ||
  fail "cache run 2: exit code $?"
expect_contains "cache loaded" "$out" "leaky model loaded from"
a=$(grep -o '"perplexity": [0-9.e+-]*' "$dir/c1/metrics.json" | sed -n 2p)
b=$(grep -o '"perplexity": [0-9.e+-]*' "$dir/c2/metrics.json" | sed -n 2p)
[ -n "$a" ] && [ "$a" = "$b" ] && echo "ok: cached leaky model scores the same ($a)" || fail "cached leaky: '$a' vs '$b'"
out=$("$prog" --smoke --quiet --variants leaky --leaky-lr 1e-4 --model "$model" --leaky-cache "$dir/cache" \
  --out "$dir/c3" 2>&1) || fail "cache run 3: exit code $?"
expect_contains "other settings retrain" "$out" "holds other settings"
expect_contains "cache replaced" "$(cat "$dir/cache/settings.json")" '"leaky_lr": 0.0001'
# --variants ch with chosen guidance scales and spaces: exactly those rows.
"$prog" --smoke --quiet --variants ch --leaky-lr 1e-4 --cfg-scales 2.5 --cfg-spaces log --model "$model" \
  --leaky-cache "$dir/cache" --out "$dir/c4" > "$dir/c4.log" 2>&1 || fail "ch run: exit code $?"
names=$(grep -o '"name": "[^"]*"' "$dir/c4/metrics.json" | sed 's/"name": "\(.*\)"/\1/' | tr '\n' ' ')
[ "$names" = "base leaky ch-lora ch-lora-cfg=2.5 " ] && echo "ok: --cfg-scales 2.5 --cfg-spaces log rows" ||
  fail "ch rows: got '$names'"
expect_contains "cfg settings recorded" "$(cat "$dir/c4/metrics.json")" '"cfg_spaces": ['
[ "$failures" -eq 0 ] || exit 1
echo "all passed"
