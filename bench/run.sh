#!/usr/bin/env bash
# `make bench`: pgbench throughput straight to PostgreSQL 15, through Debian's pgbouncer and through
# pooler (same pool settings), printed as a table with ratios and saved to .bench/results.txt.
# Everything runs in a throwaway temp dir that is removed on exit.
# Knobs: BENCH_SECONDS (10 per run), BENCH_ROUNDS (3, median reported), BENCH_SCALE (10),
# POOLER_BIN (build/pooler).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=$repo/.bench
pg_bin=/usr/lib/postgresql/15/bin
pooler_bin=${POOLER_BIN:-$repo/build/pooler}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-10}
targets=(direct pgbouncer pooler)
# name|clients|more pgbench options; every run is pgbench -n -S -j 2 -c clients -T ... bench.
workloads=(
  "select -c 10|10|"
  "select -c 100|100|"
  "select -c 1000|1000|"
  "connect per xact -C -c 10|10|-C"
)

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL and pgbouncer refuse to run as root, so root runs the servers as postgres.
server_prefix=()
if ((EUID == 0)); then
  server_prefix=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
as_server() { (cd / && exec "${server_prefix[@]}" "$@"); }

# free_ports N: N distinct free TCP ports on 127.0.0.1.
free_ports() {
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_listening PID PORT: true once PORT accepts connections, false if PID dies or 10 s pass.
wait_listening() {
  local tries
  for ((tries = 0; tries < 100; tries++)); do
    kill -0 "$1" 2>/dev/null || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

work=
pg_data=
pids=()
# shellcheck disable=SC2317  # invoked from the traps
cleanup() {
  trap - INT TERM EXIT
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $pg_data && -f $pg_data/postmaster.pid ]]; then
    as_server "$pg_bin/pg_ctl" -D "$pg_data" stop -m fast -w >/dev/null || true
  fi
  if [[ -n $work ]]; then
    rm -rf "$work"
  fi
}
trap 'say interrupted; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

[[ -x $pg_bin/pgbench ]] || die "PostgreSQL 15 not found in $pg_bin (make deps)"
command -v pgbouncer >/dev/null || die "pgbouncer not installed (make deps)"

# pgbench, pgbouncer and the servers need a descriptor per client and more.
if (($(ulimit -Sn) < 8192)); then
  ulimit -Sn 8192 2>/dev/null || ulimit -n 8192 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
fi
(($(ulimit -Sn) >= 2200)) || say "warning: only $(ulimit -Sn) file descriptors; the 1000-client runs may fail"

work=$(mktemp -d /tmp/pooler-bench.XXXXXX)
chmod 755 "$work"
if ((EUID == 0)); then chown postgres:postgres "$work"; fi
pg_data=$work/data
read -r pg_port pgbouncer_port pooler_port <<<"$(free_ports 3)"
declare -A port=([direct]=$pg_port [pgbouncer]=$pgbouncer_port [pooler]=$pooler_port)
declare -A down=()

say "starting PostgreSQL 15 on 127.0.0.1:$pg_port"
as_server mkdir "$work/sock"
as_server "$pg_bin/initdb" -D "$pg_data" -U postgres -E UTF8 --no-instructions \
  --auth-local=trust --auth-host=trust >"$work/initdb.log" 2>&1 ||
  { cat "$work/initdb.log" >&2; die "initdb failed"; }
cat >>"$pg_data/postgresql.conf" <<EOF

# bench/run.sh: throwaway and fast; room for 1000 direct clients plus both poolers.
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$work/sock'
max_connections = 1100
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
as_server "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/postgresql.log" -w -t 120 start >/dev/null ||
  { tail -n 20 "$work/postgresql.log" >&2; die "PostgreSQL did not start"; }
as_server "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/sock" -p "$pg_port" -U postgres \
  -d postgres -c 'CREATE ROLE bench LOGIN' -c 'CREATE DATABASE bench OWNER bench'
say "loading pgbench data (scale $scale)"
"$pg_bin/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$pg_port" -U bench bench >"$work/init.log" 2>&1 ||
  { cat "$work/init.log" >&2; die "pgbench -i failed"; }

echo '"bench" "bench"' >"$work/userlist.txt"
for target in pgbouncer pooler; do
  section=$target
  [[ $target == pgbouncer ]] || section=pooler
  cat >"$work/$target.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$pg_port dbname=bench

[$section]
listen_addr = 127.0.0.1
listen_port = ${port[$target]}
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 2000
EOF
done

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

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) printf "%.2f", a / b; else printf "-" }'
}

# median VALUES...: the median of the numeric values, or FAILED if none.
median() {
  printf '%s\n' "$@" | grep -E '^[0-9]+$' | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "FAILED"; else print v[int((NR + 1) / 2)] }'
}

row() { printf '| %-26s | %12s | %13s | %12s | %16s | %13s |\n' "$@"; }

export PGSSLMODE=disable PGGSSENCMODE=disable
unset PGPASSWORD PGSERVICE PGOPTIONS
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
        say "  FAILED: $(grep -m 1 -iE 'error|fatal|abort|could not' "$file" || tail -n 1 "$file")"
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
