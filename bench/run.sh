#!/usr/bin/env bash
# `make bench`: pgbench throughput straight to PostgreSQL 15, through Debian's pgbouncer and through
# pooler (same pool settings), printed as a table with ratios and saved to .bench/results.txt.
# Everything runs in a throwaway temp dir that is removed on exit.
# Knobs: BENCH_SECONDS (10 per run), BENCH_ROUNDS (3, median reported), BENCH_SCALE (10),
# POOLER_BIN (build/pooler).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
targets=(direct pgbouncer pooler)
# name|clients|more pgbench options; every run is pgbench -n -S -j 2 -c clients -T ... bench.
workloads=(
  "select -c 10|10|"
  "select -c 100|100|"
  "select -c 1000|1000|"
  "connect per xact -C -c 10|10|-C"
)

[[ -x $pg_bin/pgbench ]] || die "PostgreSQL 15 not found in $pg_bin (make deps)"
command -v pgbouncer >/dev/null || die "pgbouncer not installed (make deps)"

raise_fd_limit 8192
(($(ulimit -Sn) >= 2200)) || say "warning: only $(ulimit -Sn) file descriptors; the 1000-client runs may fail"

make_work pooler-bench
read -r pg_port pgbouncer_port pooler_port <<<"$(free_ports 3)"
declare -A port=([direct]=$pg_port [pgbouncer]=$pgbouncer_port [pooler]=$pooler_port)
declare -A down=()

# Room for 1000 direct clients plus both poolers.
start_postgres "$pg_port" 1100
pooler_ini "$work/pgbouncer.ini" pgbouncer "$pgbouncer_port"
pooler_ini "$work/pooler.ini" pooler "$pooler_port"

# start_pooler NAME CMD...: run CMD in its own session, log to $work/NAME.log, wait for its port.
start_pooler() {
  local name=$1
  shift
  say "starting $name on 127.0.0.1:${port[$name]}"
  (cd / && exec setsid "$@") >"$work/$name.log" 2>&1 &
  pids+=($!)
  if ! wait_listening "$!" "${port[$name]}"; then
    down[$name]="did not start; log tail:"$'\n'"$(tail -n 5 "$work/$name.log")"
    say "$name ${down[$name]}"
  fi
}
start_pooler pgbouncer "${server_prefix[@]}" /usr/sbin/pgbouncer "$work/pgbouncer.ini"
if [[ ! -x $pooler_bin ]]; then
  down[pooler]="$pooler_bin not found (make build)"
  say "pooler: ${down[pooler]}"
elif ((EUID == 0)) && ! as_server test -x "$pooler_bin" 2>/dev/null; then
  start_pooler pooler "$pooler_bin" "$work/pooler.ini"
else
  start_pooler pooler "${server_prefix[@]}" "$pooler_bin" "$work/pooler.ini"
fi

rm -rf "$out_dir/pgbench"
mkdir -p "$out_dir/pgbench"
# bench_one TARGET FILE CLIENTS PGBENCH-OPTIONS...: prints tps, or FAILED (details in FILE).
# pgbench's -T includes opening the clients' connections (seconds for 1000 direct backends), so
# each run gets 1 s per 100 clients on top; the tps pgbench reports excludes that time.
bench_one() {
  local target=$1 file=$2 clients=$3 tps
  local duration=$((seconds + clients / 100))
  shift 3
  if [[ -n ${down[$target]:-} ]]; then
    echo "${down[$target]}" >"$file"
    echo FAILED
    return
  fi
  if timeout --foreground -k 5 $((duration + 120)) "$pg_bin/pgbench" -h 127.0.0.1 \
    -p "${port[$target]}" -U bench -n -S -j 2 -c "$clients" -T "$duration" "$@" bench >"$file" 2>&1
  then
    # pgbench 15: "tps = N (without initial connection time)"; with -C "(including reconnection times)".
    tps=$(awk '/^tps = / { print $3; exit }' "$file")
  fi
  if [[ -n ${tps:-} ]]; then
    printf '%.0f\n' "$tps"
  else
    echo FAILED
  fi
}

row() { printf '| %-26s | %12s | %13s | %12s | %16s | %13s |\n' "$@"; }

rows=()
for workload in "${workloads[@]}"; do
  IFS='|' read -r name clients extra <<<"$workload"
  read -r -a opts <<<"$extra"
  declare -A tps=() runs=()
  # Rounds alternate the targets, and the median is reported: on a small machine pgbench,
  # PostgreSQL and the pooler share the cores, and single runs swing by 10-15 %.
  for ((round = 1; round <= rounds; round++)); do
    for target in "${targets[@]}"; do
      file=$out_dir/pgbench/${name//[^a-zA-Z0-9]/_}.$target.$round.log
      say "$name -> $target (${seconds}s, round $round/$rounds)"
      result=$(bench_one "$target" "$file" "$clients" "${opts[@]}")
      if [[ $result == FAILED ]]; then
        say_failed "$file"
      fi
      runs[$target]+=" $result"
      sleep 1
    done
  done
  for target in "${targets[@]}"; do
    # shellcheck disable=SC2086 # the runs are a word list
    tps[$target]=$(median ${runs[$target]})
  done
  rows+=("$(row "$name" "${tps[direct]}" "${tps[pgbouncer]}" "${tps[pooler]}" \
    "$(ratio "${tps[pooler]}" "${tps[pgbouncer]}")" "$(ratio "${tps[pooler]}" "${tps[direct]}")")")
  unset tps runs
done

for target in pgbouncer pooler; do
  tail -n 200 "$work/$target.log" >"$out_dir/$target.log" 2>/dev/null || true
done
{
  echo "pgbench -S (select only), -j 2, $seconds s per run, median of $rounds rounds, scale $scale; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "pool_mode=transaction default_pool_size=20 max_client_conn=2000; pooler $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'); $(pgbouncer --version | head -n 1)"
  echo
  row workload "direct tps" "pgbouncer tps" "pooler tps" "pooler/pgbouncer" "pooler/direct"
  row "" "" "" "" "" "" | tr ' ' '-'
  printf '%s\n' "${rows[@]}"
} | tee "$out_dir/results.txt"
say "saved to $out_dir/results.txt (pgbench output in $out_dir/pgbench/)"
