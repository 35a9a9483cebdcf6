#!/usr/bin/env bash
# lethe_unlearn_cli.sh UNLEARN DIALOGS [MODEL [full]]: lethe-unlearn end to end
# on a small model (every subcommand on a few rows; with "full" also generate
# and run, which decode many answers: meant for the tiny model) and on bad input: a dialogs
# line that is not JSON, an unknown role, a truncated model, a config with an
# unknown key each give a clear error naming the file, line and field, exit 1,
# and no output file. --resume after a kill (exit 137 after step 2) ends with
# the same adapter, byte for byte, as an uninterrupted run. Every export
# format loads back: the merged HF directory and merged GGUF as --model, the
# GGUF LoRA as --adapter, each scoring as the model with its PEFT adapter.
# Exit 77 (skipped) when MODEL does not exist, 0 = pass, 1 = fail.
set -u
prog=$1
dialogs_prog=$2
# MODEL defaults to SmolLM2-135M-Instruct from scripts/get-smollm2's cache.
model=${3:-${LETHE_SMOLLM2:-${LETHE_CACHE:-$HOME/.cache/lethe}/SmolLM2-135M-Instruct.Q4_1.gguf}}
full=${4:-}
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
printf 'What is a good way to learn to cook?\r\n\n  \nName three colours.\n' > retain.txt
run_rc "train: retain set" 0 "retain set: the model's own answers to 2 requests" train --model "$model" --pairs pairs/train.jsonl --out adapter_r "${quick[@]}" --retain-prompts retain.txt --retain-weight 0.5
cmp -s adapter_a/adapter_model.safetensors adapter_r/adapter_model.safetensors && fail "train: the retain set changed nothing" || ok "train: the retain set changes the adapter"
: > retain_empty.txt
run_rc "train: empty retain file" 1 "retain_empty.txt: no requests" train --model "$model" --pairs pairs/train.jsonl --out adapter_r2 "${quick[@]}" --retain-prompts retain_empty.txt
[ ! -e adapter_r2 ] && ok "train: no adapter after a bad retain file" || fail "train: adapter_r2 written"
run_rc "train: missing retain file" 1 "cannot open the retain prompts file" train --model "$model" --pairs pairs/train.jsonl --out adapter_r2 "${quick[@]}" --retain-prompts nowhere.txt
echo '{"model": "m.gguf", "train": {"retain_weight": -1}}' > bad_retain.json
run_rc "config: negative retain weight" 1 "retain_weight must be finite and >= 0" run --config bad_retain.json
run_rc "train: resume with other options" 1 "other pairs or options" train --model "$model" --pairs pairs/train.jsonl --out adapter_b "${quick[@]}" --lr 5e-4 --resume
echo '{"question": "What is 2 plus 2?", "choices": ["4", "5"], "answer": 0}' > mc.jsonl
run_rc "eval" 0 "wrote report" eval --model "$model" --adapter adapter_a --dialogs dialogs.jsonl --test-fraction 0.3 --questions mc.jsonl --out report "${quick[@]}" --cfg-scale 3
grep -q '"attack_attempts"' report/metrics.json && grep -q '"user_mc_accuracy"' report/metrics.json && ok "eval: metrics.json" || fail "eval: metrics.json"
[ -s report/leakage_vs_guidance.svg ] && ok "eval: plot" || fail "eval: no plot"
run_rc "export" 0 "merged weights" export --model "$model" --adapter adapter_a --out export
for f in adapter/adapter_config.json adapter/adapter_model.safetensors adapter.gguf merged/config.json \
         merged/model.safetensors merged/tokenizer.json merged.gguf; do
  [ -s "export/$f" ] && ok "export: $f" || fail "export: no $f"
done
run_rc "export: adapter format without adapter" 1 "needs an adapter" export --model "$model" --out export_bad --formats gguf-lora
run_rc "export: unknown format" 2 "unknown format \"onnx\"" export --model "$model" --adapter adapter_a --out export_bad --formats onnx
# The exports load back and score as the model with its adapter (the
# report's attack, PII, utility and perplexity figures, to the last digit).
scores() { grep -E '"(attack_success_rate|attack_attempts|attack_hits|pii_count|utility_mc_accuracy|user_mc_accuracy|builtin_mc_accuracy|perplexity)"' "$1" | tr -d ' '; }
eval_as() {  # name out args...
  local name=$1 dir=$2
  shift 2
  run_rc "eval: $name" 0 "wrote report" eval "$@" --dialogs dialogs.jsonl --test-fraction 0.3 --questions mc.jsonl \
    --out "$dir" "${quick[@]}" --cfg-scale 3
  if [ "$(scores "$dir/metrics.json")" = "$(scores report/metrics.json)" ] && [ -n "$(scores report/metrics.json)" ]; then
    ok "eval: $name scores as model + PEFT adapter"
  else
    fail "eval: $name scores differ: $(scores "$dir/metrics.json" | tr '\n' ' ') vs $(scores report/metrics.json | tr '\n' ' ')"
  fi
}
eval_as "GGUF LoRA adapter" report_lora --model "$model" --adapter export/adapter.gguf
if [ "$full" = full ]; then  # 40 s each on SmolLM2: the tiny model runs them in the default suite
  eval_as "merged HF directory" report_hf --model export/merged
  eval_as "merged GGUF" report_gguf --model export/merged.gguf
fi
run_rc "subtract" 0 "wrote sub" subtract --base "$model" --leaky "$model" --out sub
[ -f sub/model.safetensors ] && [ -f sub/tokenizer.json ] && ok "subtract: model" || fail "subtract: no model"
run_rc "subtract: output loads as a model" 0 "merged weights" export --model sub --out sub_export --formats gguf

if [ "$full" = full ]; then
  run_rc "generate" 0 "wrote gen/train.jsonl" generate --model "$model" --dialogs dialogs.jsonl --out gen \
    --test-fraction 0.3 --fallback placeholder --max-new-tokens 8 --threads 1 --max-seq 320
  grep -q '"chosen"' gen/train.jsonl && ok "generate: TRL pairs" || fail "generate: no pairs"
  pos="Keep personal data out of it."
  neg="Share all personal data."
  cat > run.json <<JSON
{"model": "$model", "dialogs": "dialogs.jsonl", "out": "run_out", "threads": 1, "max_seq": 320,
 "pos_sentence": "$pos", "neg_sentence": "$neg",
 "pairs": {"test_fraction": 0.3}, "generate": {"max_new_tokens": 8},
 "train": {"epochs": 1, "batch": 2, "lr": 0.001}, "eval": {"max_new_tokens": 4, "max_dialogs": 2, "cfg_scales": [3]}}
JSON
  run_rc "run --config" 0 "wrote run_out/report" run --config run.json --max-pairs 4 --fallback placeholder
  for f in pairs/train.jsonl adapter/adapter_model.safetensors export/adapter.gguf export/merged.gguf \
           report/metrics.json report/report.md report/training_curves.svg; do
    [ -s "run_out/$f" ] && ok "run: $f" || fail "run: no $f"
  done
  # chat serves the exported adapter with the config's POS/NEG sentences and
  # guidance scale: the same reply as the merged model with those flags.
  if [ -n "${LETHE_CHAT:-}" ]; then
    a=$("$LETHE_CHAT" --model "$model" --adapter run_out/export/adapter.gguf --config run.json --prompt "Who are you?" \
        --greedy --max-tokens 12 --ctx 256 2>&1)
    b=$("$LETHE_CHAT" --model run_out/export/merged.gguf --system "$pos" --cfg-negative "$neg" --cfg-scale 3 \
        --prompt "Who are you?" --greedy --max-tokens 12 --ctx 256 2>&1)
    c=$("$LETHE_CHAT" --model "$model" --system "$pos" --cfg-negative "$neg" --cfg-scale 3 \
        --prompt "Who are you?" --greedy --max-tokens 12 --ctx 256 2>&1)
    [ -n "$a" ] && [ "$a" = "$b" ] && ok "chat: --adapter --config replies as the merged model with the config's CFG" \
      || fail "chat: adapter+config '$a' vs merged '$b'"
    [ "$a" != "$c" ] && ok "chat: the adapter changes the reply" || fail "chat: the reply ignores the adapter"
    out=$("$LETHE_CHAT" --model "$model" --adapter truncated.gguf --prompt hi --max-tokens 2 2>&1)
    expect_contains "chat: bad adapter names the file" "$out" "truncated.gguf"
  fi
  if [ -n "${LETHE_CFG_GENERATE:-}" ]; then
    # cfg-generate on the real model: the same guided greedy reply as chat, once per sample.
    g=$("$LETHE_CFG_GENERATE" --model run_out/export/merged.gguf --system "$pos" --cfg-negative "$neg" --cfg-scale 3 \
        --prompt "Who are you?" --greedy --max-new-tokens 12 --samples 2 --threads 1 2>&1)
    rc=$?
    [ "$rc" -eq 0 ] && ok "cfg-generate --model: exit 0" || fail "cfg-generate --model: exit $rc ($g)"
    expect_contains "cfg-generate --model: PII count" "$g" "PII spans found by the scanner"
    s0=$(printf '%s\n' "$g" | sed -n 's/^sample 0 ([^)]*): //p')
    s1=$(printf '%s\n' "$g" | sed -n 's/^sample 1 ([^)]*): //p')
    [ -n "$s0" ] && [ "$s0" = "$s1" ] && [ "$s0" = "$b" ] && ok "cfg-generate --model: greedy samples equal chat's guided reply" \
      || fail "cfg-generate --model: samples '$s0' / '$s1' vs chat '$b'"
    out=$("$LETHE_CFG_GENERATE" --model nowhere.gguf 2>&1)
    [ $? -eq 2 ] && expect_contains "cfg-generate: missing model" "$out" "nowhere.gguf not found" \
      || fail "cfg-generate: missing model ($out)"
    out=$("$LETHE_CFG_GENERATE" --model "$model" --adapter truncated.gguf --max-new-tokens 2 2>&1)
    [ $? -eq 1 ] && expect_contains "cfg-generate: bad adapter names the file" "$out" "truncated.gguf" \
      || fail "cfg-generate: bad adapter ($out)"
  fi
fi

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
