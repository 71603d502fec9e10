"""What every integration case uses: the PostgreSQL started by pg_cluster.py (its state JSON),
a Pooler process with its own ini, raw protocol helpers, and small polling utilities.

Each case file is a unittest module run as `/usr/bin/python3 integration/test_x.py`, so CTest
sees unittest's exit code and its summary ends the output. The environment names the binary
(POOLER_BIN) and the cluster (POOLER_PG_STATE). By hand:

    /usr/bin/python3 integration/pg_cluster.py start --state /tmp/pg.json
    POOLER_BIN=build/pooler POOLER_PG_STATE=/tmp/pg.json /usr/bin/python3 integration/test_auth.py
    /usr/bin/python3 integration/pg_cluster.py stop --state /tmp/pg.json

POOLER_KEEP_TMP=1 keeps each pooler's directory (ini, userlist, log) after a passing case too;
a failing case always keeps it and prints the log's tail.
"""

import base64
import ctypes
import faulthandler
import hashlib
import hmac
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import psycopg

HOST = "127.0.0.1"
PROTOCOL_3_0 = 196608
CANCEL_REQUEST_CODE = 80877102
SSL_REQUEST_CODE = 80877103
GSSENC_REQUEST_CODE = 80877104

_state = None
_names = itertools.count()


def state():
    """The cluster's state JSON: port, host, socket_dir, data_dir, superuser, users, database."""
    global _state
    if _state is None:
        path = os.environ.get("POOLER_PG_STATE")
        if not path:
            # Failing, not skipping: a suite that skips everything when mis-wired proves nothing.
            raise AssertionError("POOLER_PG_STATE is not set: run through ctest, or see the top "
                                 "of harness.py")
        with open(path) as f:
            _state = json.load(f)
    return _state


def pooler_bin():
    path = os.environ.get("POOLER_BIN")
    if not path or not os.access(path, os.X_OK):
        raise AssertionError(f"POOLER_BIN={path!r} is not an executable")
    return path


def pg_port():
    return state()["port"]


def password(user):
    return state()["users"][user]


def unique_name(prefix):
    """A name no concurrent case uses: tables and databases of parallel runs never collide."""
    return f"{prefix}_{os.getpid()}_{next(_names)}"


def superuser_conn(dbname=None, autocommit=True):
    """psycopg connection to PostgreSQL itself, over its unix socket, as the superuser."""
    s = state()
    return psycopg.connect(host=s["socket_dir"], port=s["port"], user=s["superuser"],
                           dbname=dbname or s["database"], autocommit=autocommit,
                           connect_timeout=10)


def direct_conn(user="scramuser", dbname=None, autocommit=True, **kwargs):
    """psycopg connection to PostgreSQL over TCP, bypassing the pooler."""
    s = state()
    return psycopg.connect(host=HOST, port=s["port"], user=user, password=password(user),
                           dbname=dbname or s["database"], autocommit=autocommit,
                           connect_timeout=10, sslmode="disable", **kwargs)


def create_database(owner="scramuser", prefix="db"):
    name = unique_name(prefix)
    with superuser_conn("postgres") as c:
        c.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    return name


def drop_database(name):
    with superuser_conn("postgres") as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pgbench_init(dbname):
    """pgbench's tables (scale 1) in `dbname`, created directly on PostgreSQL."""
    proc = subprocess.run(
        ["pgbench", "-i", "-s", "1", "-q", "-h", HOST, "-p", str(pg_port()), "-U", "scramuser",
         dbname],
        env=dict(os.environ, PGPASSWORD=password("scramuser"), PGSSLMODE="disable"),
        capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError(f"pgbench -i failed: {proc.stderr}")


class PgbenchDatabaseCase(unittest.TestCase):
    """Cases sharing one database of their own with pgbench's tables, made once per class."""
    db_prefix = "pgbench"

    @classmethod
    def setUpClass(cls):
        cls.db = create_database(prefix=cls.db_prefix)
        pgbench_init(cls.db)

    @classmethod
    def tearDownClass(cls):
        drop_database(cls.db)


def pgbench_counts(test, proc):
    """pgbench's (processed, failed) transaction counts; fails the test unless it exited 0 and
    printed its summary."""
    output = proc.stdout + proc.stderr
    test.assertEqual(proc.returncode, 0, f"pgbench exited {proc.returncode}:\n{output[-3000:]}")
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    test.assertIsNotNone(processed, output[-3000:])
    test.assertIsNotNone(failed, output[-3000:])
    return int(processed.group(1)), int(failed.group(1))


def backends(dbname=None, user=None, state_filter=None):
    """Client backends in pg_stat_activity, optionally for one database / user / state."""
    sql = ("SELECT pid, usename, datname, state, query FROM pg_stat_activity "
           "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()")
    args = []
    for column, value in (("datname", dbname), ("usename", user), ("state", state_filter)):
        if value is not None:
            sql += f" AND {column} = %s"
            args.append(value)
    with superuser_conn("postgres") as c:
        return c.execute(sql, args).fetchall()


def node_pg_dir():
    """A directory with node's pg installed from the npm registry, kept beside the test
    cluster's state so later runs reuse it."""
    top = os.path.join(os.path.dirname(os.path.abspath(os.environ["POOLER_PG_STATE"])), "node")
    if not os.path.isdir(os.path.join(top, "node_modules", "pg")):
        os.makedirs(top, exist_ok=True)
        proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error",
                               "--prefix", top, "pg@8"], capture_output=True, text=True,
                              timeout=300)
        if proc.returncode != 0:
            raise AssertionError(f"npm install pg failed: {proc.stderr}")
    return top


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=10):
    """GET http://127.0.0.1:<port><path> without proxies: (status, body text). Any status is
    returned, not raised."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def rss_kb(pid):
    """Resident set size of a process in kB, from /proc/<pid>/status (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def arm_case_alarm(case, limit):
    """Fails `case` (a TestCase in setUp) if it runs longer than `limit` s: a hung client call
    then costs one case, not the whole file's time."""
    def on_alarm(signum, frame):
        raise TimeoutError(f"{case.id()} ran longer than {limit} s: hung")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    case.addCleanup(signal.signal, signal.SIGALRM, previous)
    case.addCleanup(signal.alarm, 0)


def wait_until(predicate, timeout=10.0, interval=0.05, message="condition"):
    """Polls predicate() until it returns a truthy value; returns it, or fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def show(conn, what):
    """(column names, rows as {column: value}) of a console SHOW command on `conn`."""
    cur = conn.execute(f"SHOW {what}")
    names = [d.name for d in cur.description]
    return names, [dict(zip(names, r)) for r in cur.fetchall()]


class Sampler:
    """Calls fn() every `interval` seconds on a thread until stopped; keeps the values and the
    first exception. Use as a context manager; read .values afterwards."""

    def __init__(self, fn, interval=0.05):
        self.fn, self.interval = fn, interval
        self.values, self.error = [], None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.values.append(self.fn())
            except Exception as e:  # noqa: BLE001 - reported by stop()
                self.error = e
                return
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=30)
        return False

    def check(self):
        if self.error is not None:
            raise AssertionError(f"sampler failed: {self.error!r}") from self.error
        if not self.values:
            raise AssertionError("sampler took no samples")


# --- raw protocol helpers, for what libpq will not send ---

def startup_packet(user, database, version=PROTOCOL_3_0, **params):
    body = struct.pack("!i", version)
    for key, value in [("user", user), ("database", database)] + list(params.items()):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def message(kind, payload=b""):
    return kind + struct.pack("!i", len(payload) + 4) + payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_message(sock):
    """One backend message: (type byte, payload). Raises ConnectionError on EOF."""
    head = recv_exact(sock, 5)
    length = struct.unpack("!i", head[1:])[0]
    if length < 4 or length > 64 * 1024 * 1024:
        raise AssertionError(f"implausible message length {length} for type {head[:1]!r}")
    return head[:1], recv_exact(sock, length - 4)


def error_fields(payload):
    """ErrorResponse/NoticeResponse payload -> {'S': severity, 'C': sqlstate, 'M': message...}."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode(errors="replace")
    return fields


def read_until_closed(sock, limit=1 << 20):
    """Everything the peer sends until it closes (socket timeout raises)."""
    data = b""
    while len(data) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    return data


def md5_secret(user, secret):
    return "md5" + hashlib.md5((secret + user).encode()).hexdigest()


def scram_secret(secret, iterations=4096, salt=None):
    """A SCRAM-SHA-256 verifier as PostgreSQL stores it."""
    salt = salt or os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


class PgError(Exception):
    """An ErrorResponse read off a raw socket."""

    def __init__(self, fields):
        self.fields = fields
        self.sqlstate = fields.get("C")
        self.message = fields.get("M", "")
        super().__init__(f"{fields.get('S', '?')} {self.sqlstate}: {self.message}")


class RawClient:
    """A hand-rolled frontend over a plain socket: it sends what libpq will not (bad packets, wrong
    cancel keys) and reports what libpq hides (the authentication method, the SQLSTATE of a login
    failure, the cancel key)."""

    def __init__(self, port, timeout=10, sock=None):
        # sock: an already connected socket to speak over instead (e.g. a TLS one).
        self.sock = sock or socket.create_connection((HOST, port), timeout=timeout)
        self.auth_method = None
        self.sasl_mechanisms = []
        self.parameters = {}
        self.backend_key = None  # (pid, key) from BackendKeyData
        self.notices = []

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def read(self):
        return read_message(self.sock)

    def expect(self, *kinds):
        kind, payload = self.read()
        if kind == b"E":
            raise PgError(error_fields(payload))
        if kind not in kinds:
            raise AssertionError(f"expected one of {kinds}, got {kind!r} {payload[:200]!r}")
        return kind, payload

    def login(self, user, database, password=None, **params):
        """Startup and authentication up to the first ReadyForQuery. Raises PgError on an
        ErrorResponse; sets auth_method to trust, cleartext, md5 or scram-sha-256."""
        self.send(startup_packet(user, database, **params))
        while True:
            kind, payload = self.expect(b"R", b"S", b"K", b"Z", b"N")
            if kind == b"R":
                code = struct.unpack("!i", payload[:4])[0]
                if code == 0:
                    self.auth_method = self.auth_method or "trust"
                elif code == 3:
                    self.auth_method = "cleartext"
                    self.send(message(b"p", password.encode() + b"\0"))
                elif code == 5:
                    self.auth_method = "md5"
                    inner = md5_secret(user, password)[3:]
                    digest = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
                    self.send(message(b"p", b"md5" + digest.encode() + b"\0"))
                elif code == 10:
                    self.auth_method = "scram-sha-256"
                    self.sasl_mechanisms = [m.decode() for m in payload[4:].split(b"\0") if m]
                    self._scram(password)
                else:
                    raise AssertionError(f"unexpected authentication request {code}")
            elif kind == b"S":
                key, value = payload.split(b"\0")[:2]
                self.parameters[key.decode()] = value.decode()
            elif kind == b"K":
                self.backend_key = struct.unpack("!ii", payload[:8])
            elif kind == b"N":
                self.notices.append(error_fields(payload))
            elif kind == b"Z":
                return self

    def _scram(self, password):
        if "SCRAM-SHA-256" not in self.sasl_mechanisms:
            raise AssertionError(f"no SCRAM-SHA-256 in {self.sasl_mechanisms}")
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare = f"n=,r={nonce}"
        first = ("n,," + first_bare).encode()
        self.send(message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        _, payload = self.expect(b"R")
        if struct.unpack("!i", payload[:4])[0] != 11:
            raise AssertionError(f"expected SASLContinue, got {payload!r}")
        server_first = payload[4:].decode()
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs["r"].startswith(nonce):
            raise AssertionError("server nonce does not extend the client nonce")
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        final_bare = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{final_bare}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.send(message(b"p", f"{final_bare},p={base64.b64encode(proof).decode()}".encode()))
        _, payload = self.expect(b"R")
        if struct.unpack("!i", payload[:4])[0] != 12:
            raise AssertionError(f"expected SASLFinal, got {payload!r}")
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        want = base64.b64encode(hmac.new(server_key, auth_message, hashlib.sha256).digest())
        if payload[4:] != b"v=" + want:
            raise AssertionError("the server's SCRAM signature does not verify")

    def send_query(self, sql):
        self.send(message(b"Q", sql.encode() + b"\0"))

    def read_result(self):
        """Reads to ReadyForQuery: (rows as lists of str|None, first error fields or None)."""
        rows, error = [], None
        while True:
            kind, payload = self.read()
            if kind == b"D":
                count = struct.unpack("!h", payload[:2])[0]
                pos, row = 2, []
                for _ in range(count):
                    length = struct.unpack("!i", payload[pos:pos + 4])[0]
                    pos += 4
                    if length < 0:
                        row.append(None)
                    else:
                        row.append(payload[pos:pos + length].decode())
                        pos += length
                rows.append(row)
            elif kind == b"E":
                error = error or error_fields(payload)
            elif kind == b"N":
                self.notices.append(error_fields(payload))
            elif kind == b"Z":
                self.transaction_status = payload[:1]
                return rows, error

    def query(self, sql):
        """Simple query; returns rows, raises PgError on an ErrorResponse."""
        self.send_query(sql)
        rows, error = self.read_result()
        if error:
            raise PgError(error)
        return rows


def send_cancel(port, pid, key, timeout=10):
    """A CancelRequest on a fresh connection; returns what the peer sent before closing."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(struct.pack("!iiii", 16, CANCEL_REQUEST_CODE, pid, key))
        try:
            return read_until_closed(s)
        except ConnectionResetError:
            return b""


class Pooler:
    """A pooler process with its own ini, userlist and log in a fresh temp dir.

    settings: the [pooler] section (listen/log/auth_file keys are filled in unless given).
    databases: {name: "host=... port=... dbname=..."}; default: itest on the test cluster.
    users: [(user, secret)] for userlist.txt; default: every cluster role, plain passwords.
    user_settings: the [users] section, {user: "pool_mode=..."}.
    extra_ini: text written as it is at the end of [pooler], for lines a dict cannot say
        (comments, unusual spellings).
    args: command-line options before the ini (e.g. ["-q"]).
    launcher: argv run in front of the pooler (it must exec its arguments), e.g. a namespace
        wrapper.
    files: {name: text} written into the pooler's directory before it starts (an hba file, an
        ident map); the pooler runs there, so settings may name them relatively. write_file()
        changes one later (for a RELOAD).

    On exit it sends SIGTERM and fails the test if the process crashed: exited before being
    told to, died by another signal, or a sanitizer reported into its output.
    """

    def __init__(self, settings=None, databases=None, users=None, user_settings=None,
                 extra_ini="", args=(), launcher=(), files=None):
        self.settings = dict(settings or {})
        self.files = dict(files or {})
        self.databases = databases
        self.users = users
        self.user_settings = user_settings or {}
        self.extra_ini = extra_ini
        self.args = list(args)
        self.launcher = list(launcher)
        self.proc = None
        self.dir = None
        self.port = None
        self._term_sent = False

    # --- configuration ---

    def default_databases(self):
        return {state()["database"]: f"host={HOST} port={pg_port()} dbname={state()['database']}"}

    def write_file(self, name, text):
        """Writes `text` to `name` in the pooler's directory; returns its path."""
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def write_config(self):
        for name, text in self.files.items():
            self.write_file(name, text)
        users = self.users
        if users is None:
            users = list(state()["users"].items())
        with open(self.auth_file, "w", encoding="utf-8") as f:
            for user, secret in users:
                f.write('"%s" "%s"\n' % (user.replace('"', '""'), secret.replace('"', '""')))
        settings = {
            "listen_addr": HOST,
            "listen_port": str(self.port),
            "unix_socket_dir": self.dir,
            "logfile": self.logfile,
            "pidfile": os.path.join(self.dir, "pooler.pid"),
            "auth_file": self.auth_file,
            "auth_type": "md5",
        }
        settings.update({k: str(v) for k, v in self.settings.items()})
        databases = self.databases if self.databases is not None else self.default_databases()
        lines = ["[pooler]"] + [f"{k} = {v}" for k, v in settings.items()]
        if self.extra_ini:
            lines += self.extra_ini.rstrip("\n").split("\n")
        lines += ["", "[databases]"] + [f"{k} = {v}" for k, v in databases.items()]
        if self.user_settings:
            lines += ["", "[users]"] + [f"{k} = {v}" for k, v in self.user_settings.items()]
        self.ini_text = "\n".join(lines) + "\n"
        with open(self.ini, "w", encoding="utf-8") as f:
            f.write(self.ini_text)

    # --- lifecycle ---

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pooler-itest-")
        os.chmod(self.dir, 0o755)
        self.ini = os.path.join(self.dir, "pooler.ini")
        self.auth_file = os.path.join(self.dir, "userlist.txt")
        self.logfile = os.path.join(self.dir, "pooler.log")
        self.outfile = os.path.join(self.dir, "pooler.out")
        try:
            for attempt in range(3):  # the free port may be taken before the pooler binds it
                self.port = int(self.settings.get("listen_port") or free_port())
                self.write_config()
                if self._start():
                    return self
            raise AssertionError(f"pooler could not bind a port:\n{self.log()}")
        except BaseException:
            self._kill()
            raise

    def _start(self):
        out = open(self.outfile, "ab")
        self.proc = subprocess.Popen([*self.launcher, pooler_bin(), *self.args, self.ini],
                                     stdout=out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.dir, preexec_fn=_die_with_parent)
        out.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log = self.log()
                if "in use" in log.lower() and "listen_port" not in self.settings:
                    return False
                raise AssertionError(
                    f"pooler exited with {self.proc.returncode} during start-up\n"
                    f"--- ini\n{self.ini_text}--- log\n{log}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"pooler did not accept TCP on {self.port} in 20 s\n{self.log()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def _kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def terminate(self, timeout):
        """Sends SIGTERM and waits up to timeout s; returns the exit code, or None if it is
        still running. The exit check on leaving the context still runs."""
        self._term_sent = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def send_signal(self, signum):
        """Sends signum without waiting. TERM, INT and QUIT tell the pooler to exit, so its
        exiting afterwards is not reported as a crash on leaving the context."""
        if signum in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            self._term_sent = True
        self.proc.send_signal(signum)

    def __exit__(self, exc_type, exc, tb):
        problems = []
        if self.proc.poll() is not None and not self._term_sent:
            problems.append(f"pooler exited on its own during the test with "
                            f"{describe_exit(self.proc.returncode)}")
        else:
            # PgBouncer's TERM waits for clients; a second TERM means "now". Prompt exit
            # itself is test_shutdown's subject, not every case's.
            for _ in range(2):
                if self.proc.poll() is None and self.terminate(5) is not None:
                    break
            if self.proc.poll() is None:
                self._kill()
                problems.append("pooler did not exit within 10 s of two SIGTERMs (killed)")
            elif self.proc.returncode < 0 and self.proc.returncode != -signal.SIGTERM:
                problems.append(f"pooler died with {describe_exit(self.proc.returncode)} "
                                "after SIGTERM")
        log = self.log()
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                       "terminate called", "Segmentation fault"):
            if marker in log:
                problems.append(f"{marker!r} in the pooler's output")
        if problems or exc_type is not None:
            sys.stderr.write(f"--- pooler log ({self.dir}), last lines\n{tail(log, 60)}\n")
        if problems:
            raise AssertionError("; ".join(problems))
        if exc_type is None and not os.environ.get("POOLER_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def output(self):
        """What the process wrote to stdout and stderr."""
        with open(self.outfile, errors="replace") as f:
            return f.read()

    def log(self):
        """The logfile, then whatever stdout/stderr said that the logfile does not."""
        texts = []
        for path in (self.logfile, self.outfile):
            if path and os.path.exists(path):
                with open(path, errors="replace") as f:
                    texts.append(f.read())
            else:
                texts.append("")
        seen = set(texts[0].splitlines())
        extra = [line for line in texts[1].splitlines() if line not in seen]
        return texts[0] + ("\n".join(extra) + "\n" if extra else "")

    # --- clients ---

    def dsn(self, user="scramuser", dbname=None, password=None, **extra):
        params = {
            "host": HOST, "port": self.port, "user": user,
            "dbname": dbname or state()["database"],
            "password": password if password is not None else state()["users"].get(user, ""),
            "sslmode": "disable", "connect_timeout": 10,
        }
        params.update(extra)
        return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})

    def connect(self, user="scramuser", dbname=None, password=None, autocommit=True, **kwargs):
        """psycopg connection through the pooler."""
        extra = {k: kwargs.pop(k) for k in list(kwargs) if k in ("sslmode", "connect_timeout",
                                                                   "application_name")}
        return psycopg.connect(self.dsn(user, dbname, password, **extra), autocommit=autocommit,
                               **kwargs)

    def client_env(self, user, password):
        env = dict(os.environ)
        env.update({"PGPASSWORD": password if password is not None
                    else state()["users"].get(user, ""),
                    "PGCONNECT_TIMEOUT": "10", "PGSSLMODE": "disable",
                    "PGAPPNAME": "pooler-itest"})
        env.pop("PGSERVICE", None)
        return env

    def psql(self, sql, user="scramuser", dbname=None, password=None, args=(), timeout=30,
             sslmode="disable", check=False, env=None):
        """psql -c SQL through the pooler: CompletedProcess with text stdout/stderr. env: more
        variables for libpq (PGSSLROOTCERT...)."""
        env = {**self.client_env(user, password), **(env or {})}
        env["PGSSLMODE"] = sslmode
        argv = ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", HOST,
                "-p", str(self.port), "-U", user, "-d", dbname or state()["database"],
                *args, "-c", sql]
        proc = self._run(argv, env, timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"psql {sql!r} exited {proc.returncode}: {proc.stderr}")
        return proc

    def pgbench(self, *args, user="scramuser", dbname=None, password=None, timeout=120,
                env=None):
        env = {**self.client_env(user, password), **(env or {})}
        argv = ["pgbench", "-h", HOST, "-p", str(self.port), "-U", user, *map(str, args),
                dbname or state()["database"]]
        return self._run(argv, env, timeout)

    def _run(self, argv, env, timeout):
        try:
            return subprocess.run(argv, env=env, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
            raise AssertionError(f"{argv[0]} through the pooler hung for {timeout} s: "
                                 f"{' '.join(argv[1:])}\n{err or ''}") from None

    def raw_socket(self, timeout=10):
        return socket.create_connection((HOST, self.port), timeout=timeout)

    def unix_socket(self, timeout=10):
        """A socket connected to the pooler's unix socket (unix_socket_dir is its directory)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(os.path.join(self.dir, f".s.PGSQL.{self.port}"))
        except BaseException:
            sock.close()
            raise
        return sock

    def assert_healthy(self, test, user="scramuser"):
        """A normal query through this pooler still works."""
        proc = self.psql("SELECT 40 + 2", user=user, timeout=30)
        test.assertEqual(proc.returncode, 0, f"psql after the abuse failed: {proc.stderr}")
        test.assertEqual(proc.stdout.strip(), "42")
        test.assertTrue(self.alive(), "pooler is not running")


def _die_with_parent():
    """In the pooler's child before exec: if the test process dies (CTest's timeout, the
    watchdog), the kernel kills the pooler too instead of leaking it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def describe_exit(code):
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def tail(text, lines):
    return "\n".join(text.splitlines()[-lines:])


def main():
    # A hung case prints where every thread stood and exits before CTest's TIMEOUT kills it
    # silently; the pooler children die with it.
    faulthandler.dump_traceback_later(float(os.environ.get("POOLER_CASE_WATCHDOG", "290")),
                                      exit=True)
    unittest.main(verbosity=2)
