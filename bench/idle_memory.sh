#!/usr/bin/env bash
# Memory per idle client: the resident set (VmRSS) of Debian's pgbouncer and of pooler, each with
# no client and then with BENCH_IDLE_CLIENTS logged-in asyncpg connections held open and idle
# (transaction mode, default_pool_size=20), each having run one query, the difference divided by
# the clients. Printed and saved to .bench/idle_memory.txt. Everything runs in a throwaway temp dir removed on exit.
# Knobs: BENCH_IDLE_CLIENTS (2000), POOLER_BIN (build/pooler).
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
clients=${BENCH_IDLE_CLIENTS:-2000}
targets=(pgbouncer pooler)

command -v pgbouncer >/dev/null || die "pgbouncer not installed (make deps)"
[[ -x $pooler_bin ]] || die "$pooler_bin not found (make build)"
/usr/bin/python3 -c 'import asyncpg' 2>/dev/null || die "python3-asyncpg not installed (make deps)"
raise_fd_limit $((clients * 2 + 200))

make_work pooler-bench-idle
read -r pg_port pgbouncer_port pooler_port <<<"$(free_ports 3)"
declare -A port=([pgbouncer]=$pgbouncer_port [pooler]=$pooler_port)
scale=1 start_postgres "$pg_port" 100
for target in "${targets[@]}"; do
  pooler_ini "$work/$target.ini" "$target" "${port[$target]}" "max_client_conn = $((clients + 100))"
done
declare -A command=([pgbouncer]=/usr/sbin/pgbouncer [pooler]=$pooler_bin)

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

declare -A base=() held=() per_client=()
for target in "${targets[@]}"; do
  say "starting $target on 127.0.0.1:${port[$target]}"
  (cd / && exec setsid "${server_prefix[@]}" "${command[$target]}" "$work/$target.ini") \
    >"$work/$target.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_listening "$pid" "${port[$target]}" ||
    die "$target did not start: $(tail -n 5 "$work/$target.log")"
  # One client first, so the pool's server and everything a first login builds are in the base.
  "$pg_bin/psql" -X -q -h 127.0.0.1 -p "${port[$target]}" -U bench -c 'SELECT 1' bench >/dev/null
  sleep 1
  base[$target]=$(rss_kib "$pid")
  say "$target: ${base[$target]} KiB with no client; opening $clients idle clients"
  coproc holder {
    exec /usr/bin/python3 "$repo/bench/hold_clients.py" "${port[$target]}" "$clients" 2>&1
  }
  read -r line <&"${holder[0]}" || true
  [[ $line == "ready $clients" ]] || die "$target: holding clients failed: $line"
  sleep 2  # let pooled servers and timers settle
  held[$target]=$(rss_kib "$pid")
  per_client[$target]=$(((held[$target] - base[$target]) * 1024 / clients))
  say "$target: ${held[$target]} KiB with $clients idle clients"
  # shellcheck disable=SC2154 # holder_PID is set by coproc
  kill "$holder_PID" 2>/dev/null || true
  wait "$holder_PID" 2>/dev/null || true
  stop "$pid"
done

row() { printf '| %-10s | %17s | %20s | %17s |\n' "$@"; }
{
  echo "Memory per idle client: VmRSS after one client came and went, and with $clients idle logged-in"
  echo "asyncpg connections that ran one query each; transaction mode, default_pool_size=20;"
  date -u '+%Y-%m-%d %H:%M UTC'
  echo "pooler $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'); $(pgbouncer --version | head -n 1)"
  echo
  row target "RSS, no client" "RSS, $clients clients" "bytes per client"
  row "" "" "" "" | tr ' ' '-'
  for target in "${targets[@]}"; do
    row "$target" "${base[$target]} KiB" "${held[$target]} KiB" "${per_client[$target]}"
  done
  echo
  echo "pooler/pgbouncer per client: $(ratio "${per_client[pooler]}" "${per_client[pgbouncer]}")"
} | tee "$out_dir/idle_memory.txt"
