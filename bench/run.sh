#!/usr/bin/env bash
# `make bench`: pgbench throughput straight to PostgreSQL 15, through Debian's pgbouncer and through
# pooler (same pool settings), in plain text and over TLS, printed as a table with ratios and saved
# to .bench/results.txt, with the CPU time and system calls each pooler process spends per
# transaction. Everything runs in a throwaway temp dir that is removed on exit.
# Knobs: BENCH_SECONDS (10 per run), BENCH_ROUNDS (3, median reported), BENCH_SCALE (10),
# POOLER_BIN (build/pooler), BENCH_SYSCALLS (1; 0: no perf attached, syscall columns "-").
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
targets=(direct pgbouncer pooler)
# name|clients|more pgbench options|plain or tls; every run is pgbench -n -S -j 2 -c clients -T ...
# bench. The tls rows go to a second pgbouncer and pooler that require TLS from clients and use it
# to PostgreSQL (ssl = on), and straight to PostgreSQL with PGSSLMODE=require; -C makes every
# transaction a new connection, so a full TLS handshake. The pool5 rows go to a pgbouncer and a
# pooler with default_pool_size=5, so 20 clients share 5 servers: -M prepared then needs the
# pooler's prepared-statement tracking (Debian's PgBouncer 1.18 has none, and fails it), and
# compares with -M extended, the same queries parsed every time. -j 20 gives each client its own
# pgbench thread: pgbench prepares with a blocking call, so a thread whose clients wait for a
# server behind each other would stall.
workloads=(
  "select -c 10|10||plain"
  "select -c 100|100||plain"
  "select -c 1000|1000||plain"
  "connect per xact -C -c 10|10|-C|plain"
  "TLS select -c 10|10||tls"
  "TLS select -c 100|100||tls"
  "TLS connect per xact -C -c 10|10|-C|tls"
  "prepared -M prepared -c 20|20|-M prepared -j 20|pool5"
  "extended -M extended -c 20|20|-M extended -j 20|pool5"
)

[[ -x $pg_bin/pgbench ]] || die "PostgreSQL 15 not found in $pg_bin (make deps)"
command -v pgbouncer >/dev/null || die "pgbouncer not installed (make deps)"
command -v openssl >/dev/null || die "openssl not installed (make deps)"
# System calls are counted with perf when it can count the raw_syscalls tracepoint (root or
# perf_event_paranoid <= 1, tracefs mounted); without it the syscall columns show "-". Counting
# costs each pooler alike a little per system call; BENCH_SYSCALLS=0 leaves perf out.
count_syscalls=
if [[ ${BENCH_SYSCALLS:-1} != 0 ]] && command -v perf >/dev/null &&
  perf stat -e raw_syscalls:sys_enter -x, -o /dev/null -- true 2>/dev/null; then
  count_syscalls=1
fi

raise_fd_limit 8192
(($(ulimit -Sn) >= 2200)) || say "warning: only $(ulimit -Sn) file descriptors; the 1000-client runs may fail"

make_work pooler-bench
read -r pg_port pgbouncer_port pooler_port pgbouncer_tls_port pooler_tls_port pgbouncer_pool5_port \
  pooler_pool5_port <<<"$(free_ports 7)"
# An instance is a target in plain text (direct, pgbouncer, pooler), over TLS (NAME-tls) or with a
# pool of 5 (NAME-pool5).
declare -A port=([direct]=$pg_port [pgbouncer]=$pgbouncer_port [pooler]=$pooler_port
  [direct-tls]=$pg_port [pgbouncer-tls]=$pgbouncer_tls_port [pooler-tls]=$pooler_tls_port
  [direct-pool5]=$pg_port [pgbouncer-pool5]=$pgbouncer_pool5_port
  [pooler-pool5]=$pooler_pool5_port)
declare -A down=() pid_of=()

tls_dir=$work/tls
make_cert "$tls_dir"
# Room for 1000 direct clients plus four poolers' servers.
start_postgres "$pg_port" 1200 "ssl = on
ssl_cert_file = '$tls_dir/server.crt'
ssl_key_file = '$tls_dir/server.key'"
# The same TLS settings for both poolers, in keys Debian 12's PgBouncer 1.18 knows (it has no
# *_tls13_ciphers; TLS 1.3 suites are OpenSSL's defaults in both). The plain instances say
# server_tls_sslmode = disable, PgBouncer's default (pooler's is prefer), now that PostgreSQL
# offers TLS.
plain_settings="server_tls_sslmode = disable"
tls_settings="client_tls_sslmode = require
client_tls_key_file = $tls_dir/server.key
client_tls_cert_file = $tls_dir/server.crt
client_tls_protocols = secure
client_tls_ciphers = default
server_tls_sslmode = require
server_tls_protocols = secure
server_tls_ciphers = default"
pooler_ini "$work/pgbouncer.ini" pgbouncer "$pgbouncer_port" "$plain_settings"
pooler_ini "$work/pooler.ini" pooler "$pooler_port" "$plain_settings"
pooler_ini "$work/pgbouncer-tls.ini" pgbouncer "$pgbouncer_tls_port" "$tls_settings"
pooler_ini "$work/pooler-tls.ini" pooler "$pooler_tls_port" "$tls_settings"
pooler_ini "$work/pgbouncer-pool5.ini" pgbouncer "$pgbouncer_pool5_port" "$plain_settings" 5
pooler_ini "$work/pooler-pool5.ini" pooler "$pooler_pool5_port" "$plain_settings
max_prepared_statements = 200" 5

# start_pooler NAME CMD...: run CMD in its own session, log to $work/NAME.log, wait for its port.
start_pooler() {
  local name=$1
  shift
  say "starting $name on 127.0.0.1:${port[$name]}"
  (cd / && exec setsid "$@") >"$work/$name.log" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
  if ! wait_listening "$!" "${port[$name]}"; then
    down[$name]="did not start; log tail:"$'\n'"$(tail -n 5 "$work/$name.log")"
    say "$name ${down[$name]}"
  fi
}
for name in pgbouncer pgbouncer-tls pgbouncer-pool5; do
  start_pooler "$name" "${server_prefix[@]}" /usr/sbin/pgbouncer "$work/$name.ini"
done
for name in pooler pooler-tls pooler-pool5; do
  if [[ ! -x $pooler_bin ]]; then
    down[$name]="$pooler_bin not found (make build)"
    say "$name: ${down[$name]}"
  elif ((EUID == 0)) && ! as_server test -x "$pooler_bin" 2>/dev/null; then
    start_pooler "$name" "$pooler_bin" "$work/$name.ini"
  else
    start_pooler "$name" "${server_prefix[@]}" "$pooler_bin" "$work/$name.ini"
  fi
done

# What each TLS instance negotiates, as libpq sees the client leg and PostgreSQL (pg_stat_ssl)
# the leg to it; "FAILED" if psql cannot get through with sslmode=require.
declare -A tls_seen=()
for target in "${targets[@]}"; do
  instance=$target-tls
  [[ -z ${down[$instance]:-} ]] || continue
  seen=$(PGSSLMODE=require "$pg_bin/psql" -X -At -h 127.0.0.1 -p "${port[$instance]}" -U bench \
    -c '\conninfo' -c "SELECT CASE WHEN ssl THEN version || ' ' || cipher ELSE 'no TLS' END
      FROM pg_stat_ssl WHERE pid = pg_backend_pid()" bench 2>&1) || seen="FAILED: $seen"
  client_leg=$(sed -nE 's/^SSL connection \(protocol: ([^,]+), cipher: ([^,]+),.*/\1 \2/p' <<<"$seen")
  tls_seen[$target]="${client_leg:-?} / $(tail -n 1 <<<"$seen")"
  say "$instance: client leg / leg to PostgreSQL: ${tls_seen[$target]}"
done

rm -rf "$out_dir/pgbench"
mkdir -p "$out_dir/pgbench"
# cpu_ticks PID: user + system CPU time of the process (all its threads) in clock ticks.
cpu_ticks() {
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
ticks_per_second=$(getconf CLK_TCK)

# bench_one INSTANCE FILE CLIENTS PGBENCH-OPTIONS...: prints "tps cpu syscalls": tps, or FAILED
# (details in FILE); the pooler process's CPU microseconds and system calls per transaction, or
# "-" (direct, or not measured).
# pgbench's -T includes opening the clients' connections (seconds for 1000 direct backends), so
# each run gets 1 s per 100 clients on top; the tps pgbench reports excludes that time.
bench_one() {
  local instance=$1 file=$2 clients=$3 tps xacts cpu=- calls=- pid=${pid_of[$1]:-}
  local duration=$((seconds + clients / 100)) sslmode=disable ticks perf_pid=
  shift 3
  if [[ -n ${down[$instance]:-} ]]; then
    echo "${down[$instance]}" >"$file"
    echo "FAILED - -"
    return
  fi
  if [[ $instance == *-tls ]]; then sslmode=require; fi
  if [[ -n $pid ]]; then
    ticks=$(cpu_ticks "$pid")
    if [[ -n $count_syscalls ]]; then
      perf stat -e raw_syscalls:sys_enter -x, -o "$file.perf" -p "$pid" 2>/dev/null &
      perf_pid=$!
    fi
  fi
  if PGSSLMODE=$sslmode timeout --foreground -k 5 $((duration + 120)) "$pg_bin/pgbench" \
    -h 127.0.0.1 -p "${port[$instance]}" -U bench -n -S -j 2 -c "$clients" -T "$duration" "$@" \
    bench >"$file" 2>&1
  then
    # pgbench 15: "tps = N (without initial connection time)"; with -C "(including reconnection times)".
    tps=$(awk '/^tps = / { print $3; exit }' "$file")
    xacts=$(awk -F': ' '/^number of transactions actually processed/ { print $2; exit }' "$file")
  fi
  if [[ -n $pid ]]; then
    ticks=$(($(cpu_ticks "$pid") - ticks))
    if [[ -n $perf_pid ]]; then
      kill -INT "$perf_pid" 2>/dev/null || true
      wait "$perf_pid" 2>/dev/null || true
    fi
    if [[ -n ${xacts:-} ]] && ((xacts > 0)); then
      cpu=$(awk -v t="$ticks" -v hz="$ticks_per_second" -v n="$xacts" \
        'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
      if [[ -n $perf_pid ]]; then
        # perf's CSV: "count,,event,...".
        calls=$(awk -F, -v n="$xacts" '$3 ~ /raw_syscalls:sys_enter/ && $1 ~ /^[0-9]+$/ {
          printf "%.1f", $1 / n; found = 1 } END { if (!found) printf "-" }' "$file.perf" 2>/dev/null)
      fi
      echo "pooler process: $ticks CPU ticks at $ticks_per_second/s, ${calls:--} syscalls per transaction, $xacts transactions" >>"$file"
    fi
  fi
  if [[ -n ${tps:-} ]]; then
    printf '%.0f %s %s\n' "$tps" "$cpu" "${calls:--}"
  else
    echo "FAILED - -"
  fi
}

row() { printf '| %-29s | %12s | %13s | %12s | %16s | %13s |\n' "$@"; }
cost_row() { printf '| %-29s | %17s | %14s | %22s | %19s |\n' "$@"; }

rows=()
cost_rows=()
for workload in "${workloads[@]}"; do
  IFS='|' read -r name clients extra kind <<<"$workload"
  read -r -a opts <<<"$extra"
  declare -A tps=() runs=() cpu=() cpu_runs=() calls=() call_runs=()
  # Rounds alternate the targets, and the median is reported: on a small machine pgbench,
  # PostgreSQL and the pooler share the cores, and single runs swing by 10-15 %.
  for ((round = 1; round <= rounds; round++)); do
    for target in "${targets[@]}"; do
      instance=$target
      if [[ $kind != plain ]]; then instance=$target-$kind; fi
      file=$out_dir/pgbench/${name//[^a-zA-Z0-9]/_}.$target.$round.log
      say "$name -> $instance (${seconds}s, round $round/$rounds)"
      read -r result cpu_used syscalls <<<"$(bench_one "$instance" "$file" "$clients" "${opts[@]}")"
      if [[ $result == FAILED ]]; then
        say_failed "$file"
      fi
      runs[$target]+=" $result"
      cpu_runs[$target]+=" $cpu_used"
      call_runs[$target]+=" $syscalls"
      sleep 1
    done
  done
  for target in "${targets[@]}"; do
    # shellcheck disable=SC2086 # the runs are a word list
    tps[$target]=$(median ${runs[$target]})
    # shellcheck disable=SC2086
    cpu[$target]=$(median ${cpu_runs[$target]} | sed 's/^FAILED$/-/')
    # shellcheck disable=SC2086
    calls[$target]=$(median ${call_runs[$target]} | sed 's/^FAILED$/-/')
  done
  rows+=("$(row "$name" "${tps[direct]}" "${tps[pgbouncer]}" "${tps[pooler]}" \
    "$(ratio "${tps[pooler]}" "${tps[pgbouncer]}")" "$(ratio "${tps[pooler]}" "${tps[direct]}")")")
  cost_rows+=("$(cost_row "$name" "${cpu[pgbouncer]}" "${cpu[pooler]}" "${calls[pgbouncer]}" \
    "${calls[pooler]}")")
  unset tps runs cpu cpu_runs calls call_runs
done

for name in pgbouncer pooler pgbouncer-tls pooler-tls pgbouncer-pool5 pooler-pool5; do
  tail -n 200 "$work/$name.log" >"$out_dir/$name.log" 2>/dev/null || true
done
{
  echo "pgbench -S (select only), -j 2, $seconds s per run, median of $rounds rounds, scale $scale; $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "pool_mode=transaction default_pool_size=20 max_client_conn=2000; pooler $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?'); $(pgbouncer --version | head -n 1)"
  echo "pool5 rows: default_pool_size=5, pgbench -j 20 (a thread per client); PgBouncer 1.18 tracks no prepared statements, so its -M prepared fails"
  echo "TLS rows: both poolers client_tls_sslmode=require (self-signed EC P-256) and server_tls_sslmode=require to PostgreSQL with ssl=on; pgbench PGSSLMODE=require (direct too)"
  for target in "${targets[@]}"; do
    echo "  $target over TLS, client leg / leg to PostgreSQL: ${tls_seen[$target]:-not started}"
  done
  echo
  row workload "direct tps" "pgbouncer tps" "pooler tps" "pooler/pgbouncer" "pooler/direct"
  row "" "" "" "" "" "" | tr ' ' '-'
  printf '%s\n' "${rows[@]}"
  echo
  echo "Per transaction, in the pooler process alone (user+system CPU from /proc; system calls counted by perf, \"-\" without it); medians of the rounds:"
  echo
  cost_row workload "pgbouncer CPU us" "pooler CPU us" "pgbouncer syscalls" "pooler syscalls"
  cost_row "" "" "" "" "" | tr ' ' '-'
  printf '%s\n' "${cost_rows[@]}"
} | tee "$out_dir/results.txt"
say "saved to $out_dir/results.txt (pgbench output in $out_dir/pgbench/)"
