# Shared by the bench scripts (sourced, not run): logging, running servers as postgres, free ports,
# process clean-up on exit, and a throwaway PostgreSQL 15 loaded with pgbench data.
# Knobs: BENCH_SECONDS (10 per run), BENCH_ROUNDS (3, median reported), BENCH_SCALE (10),
# POOLER_BIN (build/pooler).

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out_dir=$repo/.bench
pg_bin=/usr/lib/postgresql/15/bin
pooler_bin=${POOLER_BIN:-$repo/build/pooler}
seconds=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
scale=${BENCH_SCALE:-10}

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

# PostgreSQL and pgbouncer refuse to run as root, so root runs the servers as postgres.
server_prefix=()
if ((EUID == 0)); then
  server_prefix=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
as_server() { (cd / && exec "${server_prefix[@]}" "$@"); }

# free_ports N: N distinct free TCP ports on 127.0.0.1, below the kernel's ephemeral range (which
# starts at 32768) so that no outgoing connection can take one before the server binds it.
free_ports() {
  /usr/bin/python3 - "$1" <<'EOF'
import random, socket, sys
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(20000, 32768)))
        socks.append(s)
    except OSError:
        s.close()
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

# stop PID: SIGTERM, up to 5 s to exit, then SIGKILL; reaps it.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# Whatever is in `pids`, the PostgreSQL in `pg_data` and the `work` dir go on exit or interrupt.
work=
pg_data=
pids=()
# shellcheck disable=SC2317  # invoked from the traps
cleanup() {
  trap - INT TERM EXIT
  local pid
  for pid in "${pids[@]}"; do
    stop "$pid"
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

# raise_fd_limit N: pgbench and the poolers need a descriptor per client and more.
raise_fd_limit() {
  if (($(ulimit -Sn) < $1)); then
    ulimit -Sn "$1" 2>/dev/null || ulimit -n "$1" 2>/dev/null || ulimit -Sn "$(ulimit -Hn)"
  fi
}

# make_work NAME: the throwaway directory, readable by the postgres user.
make_work() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  chmod 755 "$work"
  if ((EUID == 0)); then chown postgres:postgres "$work"; fi
  pg_data=$work/data
}

# make_cert DIR: a throwaway self-signed certificate (EC P-256, CN=localhost, for localhost and
# 127.0.0.1) in DIR/server.crt, its key in DIR/server.key (0600), both owned by the account the
# servers run as: PostgreSQL takes a key only from its own user or root, pooler refuses a key
# that group or others may read.
make_cert() {
  local out
  mkdir -p "$1"
  if ! out=$(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 30 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$1/server.key" -out "$1/server.crt" 2>&1); then
    printf '%s\n' "$out" >&2
    die "openssl could not make the bench certificate"
  fi
  chmod 0755 "$1"
  chmod 0644 "$1/server.crt"
  if ((EUID == 0)); then chown -R postgres:postgres "$1"; fi
}

# start_postgres PORT MAX_CONNECTIONS [EXTRA-LINES]: initdb, start (throwaway and fast: no fsync),
# create the bench role and database and load pgbench data at `scale`. EXTRA-LINES go to
# postgresql.conf (ssl = on ...).
start_postgres() {
  local port=$1 max_connections=$2
  say "starting PostgreSQL 15 on 127.0.0.1:$port"
  as_server mkdir "$work/sock"
  as_server "$pg_bin/initdb" -D "$pg_data" -U postgres -E UTF8 --no-instructions \
    --auth-local=trust --auth-host=trust >"$work/initdb.log" 2>&1 ||
    { cat "$work/initdb.log" >&2; die "initdb failed"; }
  cat >>"$pg_data/postgresql.conf" <<EOF

# bench: throwaway and fast.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$work/sock'
max_connections = $max_connections
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
${3:-}
EOF
  as_server "$pg_bin/pg_ctl" -D "$pg_data" -l "$work/postgresql.log" -w -t 120 start >/dev/null ||
    { tail -n 20 "$work/postgresql.log" >&2; die "PostgreSQL did not start"; }
  as_server "$pg_bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$work/sock" -p "$port" -U postgres \
    -d postgres -c 'CREATE ROLE bench LOGIN' -c 'CREATE DATABASE bench OWNER bench'
  say "loading pgbench data (scale $scale)"
  "$pg_bin/pgbench" -i -q -s "$scale" -h 127.0.0.1 -p "$port" -U bench bench \
    >"$work/init.log" 2>&1 || { cat "$work/init.log" >&2; die "pgbench -i failed"; }
  echo '"bench" "bench"' >"$work/userlist.txt"
}

# pooler_ini FILE SECTION PORT [EXTRA-LINES] [POOL-SIZE]: the pool settings every bench uses
# (transaction mode, default_pool_size=20 unless given, max_client_conn=2000) in front of the bench
# PostgreSQL.
pooler_ini() {
  cat >"$1" <<EOF
[databases]
bench = host=127.0.0.1 port=$pg_port dbname=bench

[$2]
listen_addr = 127.0.0.1
listen_port = $3
unix_socket_dir =
auth_type = trust
auth_file = $work/userlist.txt
pool_mode = transaction
default_pool_size = ${5:-20}
max_client_conn = 2000
${4:-}
EOF
}

# say_failed FILE: the first line of a failed run's output that says why.
say_failed() {
  say "  FAILED: $(grep -m 1 -iE 'error|fatal|abort|could not|did not' "$1" || tail -n 1 "$1")"
}

# median VALUES...: the median of the numeric values (integers or decimals), or FAILED if none.
median() {
  # grep finding nothing is no error here: the answer is then FAILED (with pipefail, it would be).
  printf '%s\n' "$@" | { grep -E '^[0-9]+(\.[0-9]+)?$' || true; } | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "FAILED"; else print v[int((NR + 1) / 2)] }'
}

# ratio A B DIGITS: A/B, or "-" when either is not a number.
ratio() {
  awk -v a="$1" -v b="$2" -v d="${3:-2}" 'BEGIN {
    if (a ~ /^[0-9]+$/ && b ~ /^[0-9]+$/ && b > 0) printf "%." d "f", a / b; else printf "-" }'
}

export PGSSLMODE=disable PGGSSENCMODE=disable
unset PGPASSWORD PGSERVICE PGOPTIONS
