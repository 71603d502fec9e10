#!/usr/bin/env bash
# Fuzzes one libFuzzer target for a bounded time, as CTest test fuzz.<name> does.
# Usage: fuzz/run-fuzzer.sh FUZZER WORK_DIR SECONDS SEED...
# The seeds (files or directories) are copied into WORK_DIR/corpus, which the fuzzer grows and
# keeps between runs; the source tree is never written. A finding fails the run and is left in
# WORK_DIR/findings/, with the command that replays it.
set -euo pipefail
fuzzer=$1 work=$2 seconds=$3
shift 3
name=$(basename "$fuzzer")
mkdir -p "$work/corpus" "$work/findings"
# Seeds already in the corpus are left alone: the corpus may hold a better version by now.
copy_seed() {
  if [[ -f $1 && ! -e $work/corpus/$(basename "$1") ]]; then
    cp "$1" "$work/corpus/"
  fi
}
for seed in "$@"; do
  if [[ -d $seed ]]; then
    for file in "$seed"/*; do copy_seed "$file"; done
  else
    copy_seed "$seed"
  fi
done

before=$(ls "$work/findings")
log=$work/last-run.log
status=0
started=$SECONDS
# -timeout: an input taking 10 s is a hang, reported like a crash.
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/findings/" "$work/corpus" >"$log" 2>&1 || status=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
corpus=$(ls "$work/corpus" | wc -l)
echo "$name: ${runs:-?} inputs in $((SECONDS - started)) s (${rate:-?}/s), corpus of $corpus"
if ((status != 0)); then
  tail -n 60 "$log"
  echo "$name: FAILED (exit $status); full log: $log"
  for finding in $(comm -13 <(echo "$before") <(ls "$work/findings")); do
    echo "$name: finding saved to $work/findings/$finding"
    echo "$name: replay with: $fuzzer $work/findings/$finding"
  done
fi
exit "$status"
