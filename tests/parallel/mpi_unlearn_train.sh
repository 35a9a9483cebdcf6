#!/usr/bin/env bash
# mpi_unlearn_train.sh MPIEXEC UNLEARN DIALOGS MODEL: `mpirun -n 2 lethe-unlearn
# train` on the tiny model: it trains over 2 ranks, rank 0 alone prints and
# writes the PEFT adapter, a run killed after step 1 resumes on 2 ranks, and
# commands other than train are refused under mpirun. 0 = pass, 1 = fail.
set -u
mpiexec=$1 prog=$2 dialogs_prog=$3 model=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/lethe-mpi-unlearn.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
two=("$mpiexec" -n 2 --oversubscribe "$prog")
quick=(--threads 1 --max-seq 320 --epochs 2 --batch 2 --max-pairs 8 --lr 1e-3)

"$dialogs_prog" --people 8 --seed 3 --out dialogs.jsonl >/dev/null || fail "synthetic-dialogs failed"
"$prog" pairs --dialogs dialogs.jsonl --out pairs --test-fraction 0.3 >/dev/null || fail "pairs failed"

out=$("${two[@]}" train --model "$model" --pairs pairs/train.jsonl --out adapter "${quick[@]}" 2>&1)
rc=$?
echo "$out"
[ "$rc" -eq 0 ] && ok "train on 2 ranks: exit 0" || fail "train on 2 ranks: exit $rc"
[[ "$out" == *"over 2 ranks"* ]] && ok "train on 2 ranks: says so" || fail "train on 2 ranks: no 'over 2 ranks'"
n=$(grep -c "^wrote adapter" <<<"$out")
[ "$n" -eq 1 ] && ok "one voice: rank 0 alone reports" || fail "'wrote adapter' printed $n times"
n=$(grep -c "step     8/8" <<<"$out")
[ "$n" -eq 1 ] && ok "progress printed once per step" || fail "the last step's progress line printed $n times"
[ -f adapter/adapter_model.safetensors ] && [ -f adapter/adapter_config.json ] && ok "PEFT adapter written" ||
  fail "no PEFT adapter"

out=$("${two[@]}" train --model "$model" --pairs pairs/train.jsonl --out killed "${quick[@]}" --checkpoint-every 1 --abort-after-step 1 2>&1)
[ $? -ne 0 ] && ok "killed after step 1: the job ended" || fail "killed after step 1: mpirun exited 0"
[ ! -e killed/adapter_model.safetensors ] && [ -f killed.ckpt/orpo_state.safetensors ] &&
  ok "killed: a checkpoint and no adapter" || fail "killed: expected killed.ckpt and no adapter"
out=$("${two[@]}" train --model "$model" --pairs pairs/train.jsonl --out killed "${quick[@]}" --checkpoint-every 1 --resume 2>&1)
rc=$?
[ "$rc" -eq 0 ] && [[ "$out" == *"resuming"* ]] && [ -f killed/adapter_model.safetensors ] &&
  ok "resumed on 2 ranks" || fail "resume on 2 ranks: exit $rc: $out"

out=$("${two[@]}" eval --model "$model" --dialogs dialogs.jsonl --out report 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"only 'train' runs on several MPI ranks"* ]] && ok "eval under mpirun: refused" ||
  fail "eval under mpirun: $out"

echo "$failures failure(s)"
[ "$failures" -eq 0 ]
