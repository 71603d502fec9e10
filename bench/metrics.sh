#!/usr/bin/env bash
# The cost of the metrics endpoint: pgbench throughput through pooler with metrics off
# (metrics_port = 0) and on (metrics_port set, /metrics scraped once per second as Prometheus
# would), median tps of each and the ratio on/off, printed and saved to .bench/metrics.txt.
# Everything runs in a throwaway temp dir that is removed on exit.
# Knobs: BENCH_SECONDS (10 per run), BENCH_ROUNDS (3, median reported), BENCH_SCALE (10),
# POOLER_BIN (build/pooler).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

clients=100
modes=(off on)

[[ -x $pg_bin/pgbench ]] || die "PostgreSQL 15 not found in $pg_bin (make deps)"
[[ -x $pooler_bin ]] || die "$pooler_bin not found (make build)"

raise_fd_limit 4096

make_work pooler-bench-metrics
read -r pg_port pooler_port metrics_port <<<"$(free_ports 3)"

start_postgres "$pg_port" 200

# The same pool settings as bench/run.sh; only the metrics endpoint differs.
declare -A metrics_setting=([off]=0 [on]=$metrics_port)
for mode in "${modes[@]}"; do
  pooler_ini "$work/pooler-$mode.ini" pooler "$pooler_port" \
    "metrics_addr = 127.0.0.1"$'\n'"metrics_port = ${metrics_setting[$mode]}"
done

pooler_cmd=("${server_prefix[@]}" "$pooler_bin")
if ((EUID == 0)) && ! as_server test -x "$pooler_bin" 2>/dev/null; then
  pooler_cmd=("$pooler_bin")
fi

# scrape_loop FILE: GET /metrics once per second until killed; a refused or failed scrape is
# counted, not fatal. On SIGTERM writes "ok failed bytes" to FILE.
scrape_loop() {
  exec /usr/bin/python3 - "$metrics_port" "$1" <<'EOF'
import signal, sys, time, urllib.request
port, out = sys.argv[1], sys.argv[2]
ok = failed = size = 0
def done(*_):
    with open(out, "w") as f:
        f.write(f"{ok} {failed} {size}\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
url = f"http://127.0.0.1:{port}/metrics"
while True:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            size += len(r.read())
            ok += r.status == 200
            failed += r.status != 200
    except Exception:
        failed += 1
    time.sleep(max(0.0, 1.0 - (time.monotonic() - start)))
EOF
}

# bench_one MODE FILE: starts pooler (and for "on" the scraper), runs pgbench, stops both; sets
# result to the tps, or FAILED (details in FILE). Like bench/run.sh, -T gets 1 s per 100 clients on
# top. Not run in a subshell, so that cleanup knows the pids.
bench_one() {
  local mode=$1 file=$2 got='' pooler_pid scrape_pid='' scrapes
  result=FAILED
  local duration=$((seconds + clients / 100))
  (cd / && exec setsid "${pooler_cmd[@]}" "$work/pooler-$mode.ini") >>"$work/pooler-$mode.log" 2>&1 &
  pooler_pid=$!
  pids+=("$pooler_pid")
  if ! wait_listening "$pooler_pid" "$pooler_port"; then
    { echo "pooler did not start; log tail:"; tail -n 5 "$work/pooler-$mode.log"; } >"$file"
    stop "$pooler_pid"
    pids=()
    return
  fi
  if [[ $mode == on ]]; then
    rm -f "$work/scrapes"
    scrape_loop "$work/scrapes" &
    scrape_pid=$!
    pids+=("$scrape_pid")
  fi
  if timeout --foreground -k 5 $((duration + 120)) "$pg_bin/pgbench" -h 127.0.0.1 \
    -p "$pooler_port" -U bench -n -S -j 2 -c "$clients" -T "$duration" bench >"$file" 2>&1
  then
    # pgbench 15: "tps = N (without initial connection time)".
    got=$(awk '/^tps = / { print $3; exit }' "$file")
  fi
  if [[ -n $scrape_pid ]]; then
    stop "$scrape_pid"
    read -r scrapes 2>/dev/null <"$work/scrapes" || scrapes="0 0 0"
    echo "scrapes ok/failed/bytes: $scrapes" >>"$file"
    # shellcheck disable=SC2086 # three numbers
    set -- $scrapes
    say "  /metrics scrapes: $1 ok, $2 failed"
  fi
  stop "$pooler_pid"
  pids=()
  if [[ -n $got ]]; then
    result=$(printf '%.0f' "$got")
  fi
}

row() { printf '| %-12s | %-40s | %10s | %16s |\n' "$@"; }

rm -rf "$out_dir/pgbench-metrics"
mkdir -p "$out_dir/pgbench-metrics"
declare -A runs=() tps=() scraped=()
# Rounds alternate off and on, and the median is reported: on a small machine pgbench,
# PostgreSQL and the pooler share the cores, and single runs swing by 10-15 %.
for ((round = 1; round <= rounds; round++)); do
  for mode in "${modes[@]}"; do
    file=$out_dir/pgbench-metrics/metrics_$mode.$round.log
    say "select -c $clients -> pooler, metrics $mode (${seconds}s, round $round/$rounds)"
    bench_one "$mode" "$file"
    if [[ $result == FAILED ]]; then
      say_failed "$file"
    fi
    runs[$mode]+=" $result"
    if [[ $mode == on ]]; then
      scraped[$mode]+=" $(awk '/^scrapes/ { print $3 }' "$file")"
    fi
    sleep 1
  done
done
for mode in "${modes[@]}"; do
  # shellcheck disable=SC2086 # the runs are a word list
  tps[$mode]=$(median ${runs[$mode]})
done
ok_scrapes=0
for n in ${scraped[on]:-}; do ok_scrapes=$((ok_scrapes + n)); done

for mode in "${modes[@]}"; do
  tail -n 200 "$work/pooler-$mode.log" >"$out_dir/pooler-metrics-$mode.log" 2>/dev/null || true
done
{
  echo "pgbench -S (select only), -j 2 -c $clients, $seconds s per run, median of $rounds rounds, scale $scale; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "pool_mode=transaction default_pool_size=20 max_client_conn=2000; pooler $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
  echo "metrics on: metrics_port set and /metrics scraped once per second ($ok_scrapes successful scrapes in all)"
  echo
  row metrics "tps per round" "median tps" "ratio on/off"
  row "" "" "" "" | tr ' ' '-'
  row off "${runs[off]# }" "${tps[off]}" ""
  row on "${runs[on]# }" "${tps[on]}" "$(ratio "${tps[on]}" "${tps[off]}" 3)"
} | tee "$out_dir/metrics.txt"
if ((ok_scrapes == 0)); then
  say "warning: no /metrics scrape succeeded; the endpoint is not serving, so 'on' measured nothing extra"
fi
say "saved to $out_dir/metrics.txt (pgbench output in $out_dir/pgbench-metrics/)"
