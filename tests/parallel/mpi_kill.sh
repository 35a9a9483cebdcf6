#!/usr/bin/env bash
# A rank killed mid-run: mpirun must end the whole job with an error that
# names the dead rank, and the last checkpoint must be whole (the next test,
# mpi_data_parallel_after_kill, resumes from it).
#   mpi_kill.sh MPIEXEC PROGRAM DIR
set -uo pipefail
mpiexec=$1 program=$2 dir=$3
log=$(mktemp)
trap 'rm -f "$log"' EXIT
timeout 240 "$mpiexec" -n 2 --oversubscribe "$program" kill "$dir" >"$log" 2>&1
rc=$?
cat "$log"
fail() { echo "mpi_kill.sh: FAILED: $*" >&2; exit 1; }
[ "$rc" -ne 0 ] || fail "mpirun exited 0 although rank 1 died"
[ "$rc" -ne 124 ] || fail "the job hung after rank 1 died (killed by timeout)"
grep -q "rank 1: dying after step 5" "$log" || fail "rank 1 did not reach step 5"
grep -q "the run went on after rank 1 died" "$log" && fail "rank 0 finished a run without rank 1"
grep -Eiq "rank 1|exit(ed)? (code|status)|non-zero" "$log" || fail "mpirun's message does not say which rank ended the job"
[ -f "$dir/orpo_state.safetensors" ] || fail "no checkpoint in $dir"
ls "$dir"
echo "mpi_kill.sh: the job ended (mpirun exit $rc) and $dir holds the last checkpoint"
