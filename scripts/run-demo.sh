#!/usr/bin/env bash
# `make run`: a throwaway PostgreSQL 15 with pooler in front of it, to try pooler by hand.
# State lives in .run/ (wiped on each start), a throwaway TLS certificate for clients included;
# Ctrl-C stops pooler and PostgreSQL.
# Knobs: POOLER_PORT (6432), POOLER_BIN (build/pooler), DEMO_PASSWORD (demo), DEMO_TAIL=0.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_dir=$repo/.run
pg_bin=/usr/lib/postgresql/15/bin
pooler_bin=${POOLER_BIN:-$repo/build/pooler}
pooler_port=${POOLER_PORT:-6432}
metrics_port=${POOLER_METRICS_PORT:-9127}
password=${DEMO_PASSWORD:-demo}

say() { printf '[run-demo] %s\n' "$*"; }
die() { printf '[run-demo] error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL refuses to run as root, so root runs the servers as the postgres account.
as_server() {
  if ((EUID == 0)); then
    (cd / && exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$@")
  else
    "$@"
  fi
}

# bind_ok PORT: true when 127.0.0.1:PORT can be listened on (SO_REUSEADDR, as libuv does).
bind_ok() {
  /usr/bin/python3 - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
EOF
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

pooler_pid=
tail_pid=
pg_data=
tmp_area=
owns_run_dir=
# shellcheck disable=SC2317  # invoked from the traps
cleanup() {
  trap - INT TERM EXIT
  if [[ -n $pooler_pid ]] && kill -0 "$pooler_pid" 2>/dev/null; then
    kill -TERM "$pooler_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pooler_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pooler_pid" 2>/dev/null || true
    wait "$pooler_pid" 2>/dev/null || true
    say "pooler stopped"
  fi
  if [[ -n $tail_pid ]]; then
    kill "$tail_pid" 2>/dev/null || true
    wait "$tail_pid" 2>/dev/null || true
  fi
  if [[ -n $pg_data && -f $pg_data/postmaster.pid ]]; then
    as_server "$pg_bin/pg_ctl" -D "$pg_data" stop -m fast -w >/dev/null && say "PostgreSQL stopped"
  fi
  if [[ -n $tmp_area ]]; then
    rm -rf "$tmp_area" "$run_dir/pg.location"
  fi
  if [[ -n $owns_run_dir ]]; then
    rm -f "$run_dir/pooler.pid" "$run_dir/demo.pid"
  fi
}
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap cleanup EXIT

[[ -x $pooler_bin ]] || die "$pooler_bin not found: build it first (make build)"
[[ -x $pg_bin/initdb ]] || die "PostgreSQL 15 not found in $pg_bin (make deps)"

mkdir -p "$run_dir"

# is_running PIDFILE PATTERN: the process named in PIDFILE is alive and its command line matches.
is_running() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  # shellcheck disable=SC2053  # PATTERN is a glob
  [[ $pid =~ ^[0-9]+$ ]] && [[ $(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") == $2 ]]
}
if is_running "$run_dir/demo.pid" "*run-demo.sh*"; then
  die "another run-demo.sh is using $run_dir (pid $(cat "$run_dir/demo.pid")); stop it first"
fi
echo $$ >"$run_dir/demo.pid"
owns_run_dir=1

# A previous run killed without cleanup may have left its servers behind: stop them.
if is_running "$run_dir/pooler.pid" "$pooler_bin *"; then
  say "stopping pooler left over from a previous run (pid $(cat "$run_dir/pooler.pid"))"
  kill -TERM "$(cat "$run_dir/pooler.pid")" 2>/dev/null || true
  sleep 1
fi
rm -f "$run_dir/pooler.pid"
old_area=$run_dir/pg
if [[ -f $run_dir/pg.location && $(cat "$run_dir/pg.location") == /tmp/pooler-demo.* ]]; then
  old_area=$(cat "$run_dir/pg.location")
fi
for area in "$old_area" "$run_dir/pg"; do
  if [[ -f $area/data/postmaster.pid ]]; then
    say "stopping PostgreSQL left over from a previous run ($area/data)"
    as_server "$pg_bin/pg_ctl" -D "$area/data" stop -m immediate -w >/dev/null 2>&1 || true
  fi
  rm -rf "$area"
done
rm -f "$run_dir/pg.location"

if ! bind_ok "$pooler_port"; then
  owner=$(ss -Hltnp "sport = :$pooler_port" 2>/dev/null | grep -o 'users:(([^)]*' | head -n 1 || true)
  msg="port 127.0.0.1:$pooler_port is already in use${owner:+ (${owner#users:((})}."
  if [[ $owner == *pgbouncer* ]]; then
    msg+=" Debian's pgbouncer service listens there by default;"
    msg+=" 'sudo systemctl disable --now pgbouncer' stops it."
  fi
  die "$msg Free the port or pick another one: POOLER_PORT=6433 make run"
fi

# The data area must be writable by the server account and its socket path short enough.
pg_area=$run_dir/pg
mkdir -p "$pg_area"
if ((EUID == 0)); then chown postgres:postgres "$pg_area"; fi
if ! as_server test -w "$pg_area" 2>/dev/null || ((${#pg_area} > 80)); then
  rm -rf "$pg_area"
  tmp_area=$(mktemp -d /tmp/pooler-demo.XXXXXX)
  pg_area=$tmp_area
  if ((EUID == 0)); then chown postgres:postgres "$pg_area"; fi
  echo "$pg_area" >"$run_dir/pg.location"
  say "$run_dir is not usable by the server account; PostgreSQL lives in $pg_area"
fi
pg_data=$pg_area/data
pg_sock=$pg_area/sock
pg_port=$(free_port)

say "starting PostgreSQL 15 on 127.0.0.1:$pg_port (data in $pg_data)"
as_server mkdir -p "$pg_sock"
as_server "$pg_bin/initdb" -D "$pg_data" -U postgres -E UTF8 --no-instructions \
  --auth-local=trust --auth-host=scram-sha-256 >"$pg_area/initdb.log" 2>&1 ||
  { cat "$pg_area/initdb.log" >&2; die "initdb failed"; }
cat >>"$pg_data/postgresql.conf" <<EOF

# run-demo.sh
listen_addresses = '127.0.0.1'
port = $pg_port
unix_socket_directories = '$pg_sock'
password_encryption = 'scram-sha-256'
max_connections = 200
EOF
as_server "$pg_bin/pg_ctl" -D "$pg_data" -l "$pg_area/postgresql.log" -w -t 60 start >/dev/null ||
  { tail -n 20 "$pg_area/postgresql.log" >&2; die "PostgreSQL did not start"; }

as_server "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$pg_sock" -p "$pg_port" -U postgres \
  -d postgres -v pw="$password" -f - <<'EOF'
SET password_encryption = 'scram-sha-256';
CREATE ROLE demo LOGIN PASSWORD :'pw';
CREATE DATABASE demo OWNER demo;
EOF

# Run pooler as the server account too when that account can reach the binary and .run/.
pooler_cmd=(setsid "$pooler_bin" "$run_dir/pooler.ini")
pooler_user=
if ((EUID == 0)) && as_server test -x "$pooler_bin" -a -x "$run_dir" 2>/dev/null; then
  pooler_cmd=(setsid setpriv --reuid=postgres --regid=postgres --init-groups -- "$pooler_bin"
    "$run_dir/pooler.ini")
  pooler_user=postgres
fi

(umask 077 && printf '"demo" "%s"\n' "${password//\"/\"\"}" >"$run_dir/userlist.txt")
# A throwaway self-signed certificate for client TLS, made afresh on every run: EC P-256, valid
# for localhost and 127.0.0.1, so sslmode=verify-full can check it against itself.
tls_key=$run_dir/server.key
tls_cert=$run_dir/server.crt
rm -f "$tls_key" "$tls_cert"
if ! openssl_out=$(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
  -nodes -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$tls_key" -out "$tls_cert" 2>&1); then
  printf '%s\n' "$openssl_out" >&2
  die "openssl could not make the demo certificate"
fi
chmod 0644 "$tls_cert"
cat >"$run_dir/pooler.ini" <<EOF
; Written by scripts/run-demo.sh; rewritten on every run.
[databases]
demo = host=127.0.0.1 port=$pg_port dbname=demo

[pooler]
listen_addr = 127.0.0.1
listen_port = $pooler_port
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $run_dir/userlist.txt
pool_mode = transaction
default_pool_size = 5
admin_users = demo
; TLS for clients that ask for it; plain clients still get in (prefer).
client_tls_sslmode = prefer
client_tls_key_file = $tls_key
client_tls_cert_file = $tls_cert
; What Prometheus and the Kubernetes probes see: /metrics, /healthz, /readyz.
metrics_addr = 127.0.0.1
metrics_port = $metrics_port
; Edit this file and save: pooler reloads by itself, as a ConfigMap update does in Kubernetes.
config_watch = 1
EOF
if [[ -n $pooler_user ]]; then chown "$pooler_user:" "$run_dir/userlist.txt" "$tls_key"; fi

say "starting pooler on 127.0.0.1:$pooler_port (log in $run_dir/pooler.log)"
(cd / && exec "${pooler_cmd[@]}") >"$run_dir/pooler.log" 2>&1 &
pooler_pid=$!
echo "$pooler_pid" >"$run_dir/pooler.pid"
for ((tries = 0; ; tries++)); do
  if ! kill -0 "$pooler_pid" 2>/dev/null; then
    tail -n 20 "$run_dir/pooler.log" >&2
    die "pooler exited during start-up; full log in $run_dir/pooler.log"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$pooler_port") 2>/dev/null; then
    break
  fi
  ((tries < 100)) || die "pooler is not listening on 127.0.0.1:$pooler_port after 10 s; see $run_dir/pooler.log"
  sleep 0.1
done

cat <<EOF

pooler is listening on 127.0.0.1:$pooler_port in front of PostgreSQL 15 on 127.0.0.1:$pg_port.

  connect:        PGPASSWORD=$password psql -h 127.0.0.1 -p $pooler_port -U demo demo
                  (libpq's default sslmode=prefer takes the TLS offered; PGSSLMODE=disable: plain)
  over TLS:       PGPASSWORD=$password psql "host=127.0.0.1 port=$pooler_port user=demo dbname=demo sslmode=require"
  TLS, verified:  PGPASSWORD=$password psql "host=localhost port=$pooler_port user=demo dbname=demo sslmode=verify-full sslrootcert=$tls_cert"
  load data:      PGPASSWORD=$password pgbench -i -s 10 -h 127.0.0.1 -p $pg_port -U demo demo
                  (straight to PostgreSQL; -p $pooler_port does the same through pooler)
  benchmark:      PGPASSWORD=$password pgbench -h 127.0.0.1 -p $pooler_port -U demo -c 50 -j 2 -T 10 demo
  admin console:  PGPASSWORD=$password psql -h 127.0.0.1 -p $pooler_port -U demo pgbouncer
  metrics:        curl -s http://127.0.0.1:$metrics_port/metrics | grep ^pooler_pool
  probes:         curl -i http://127.0.0.1:$metrics_port/healthz
                  curl -i http://127.0.0.1:$metrics_port/readyz
  config / logs:  $run_dir/pooler.ini (saved edits reload by themselves), $run_dir/pooler.log,
                  $pg_area/postgresql.log
  certificate:    $tls_cert (self-signed, made for this run; key $tls_key)

Press Ctrl-C to stop pooler and PostgreSQL.

EOF

if [[ ${DEMO_TAIL:-1} != 0 ]]; then
  tail -n +1 -f --pid="$pooler_pid" "$run_dir/pooler.log" &
  tail_pid=$!
fi
status=0
wait "$pooler_pid" || status=$?
pooler_pid=
say "pooler exited by itself (status $status); see $run_dir/pooler.log"
exit 1
