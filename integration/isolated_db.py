"""Helpers for cases that run against a database of their own.

Each case creates a fresh database, so counting that database's backends in pg_stat_activity
counts the servers of the case's pooler and nothing another case (or file) opened. What only one
test file needs stays in that file."""

import socket
import struct
import threading
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient


def db_line(db, port=None, **options):
    """A [databases] line for `db` on the test cluster (or on `port`), with per-database
    options."""
    line = f"host={h.HOST} port={port or h.pg_port()} dbname={db}"
    return line + "".join(f" {k}={v}" for k, v in options.items())


def db_pooler(db, settings, **db_options):
    """A pooler whose only database is `db` on the test cluster, with per-database options."""
    return Pooler(settings, databases={db: db_line(db, **db_options)})


def db_backends(db):
    """(pid, usename, state, query) of the client backends in db."""
    return [(pid, user, state, query) for pid, user, _, state, query in h.backends(db)]


def active_with(db, marker):
    """Backends in db running a query that contains marker."""
    return [b for b in db_backends(db) if b[2] == "active" and marker in (b[3] or "")]


def terminate(pids):
    with h.superuser_conn("postgres") as c:
        for pid in pids:
            c.execute("SELECT pg_terminate_backend(%s)", (pid,))


def run_concurrently(pooler, db, users, sql, timeout=60):
    """One client per entry of users (user names), all connected first, then all running sql at
    once on threads. Returns [(user, result row or exception)]; fails if any is still running
    after timeout s."""
    conns = []
    try:
        for user in users:
            start = time.monotonic()
            try:
                conns.append((user, pooler.connect(user, dbname=db, prepare_threshold=None)))
            except psycopg.Error as e:
                raise AssertionError(f"{user} could not log in (after "
                                     f"{time.monotonic() - start:.1f} s): {e}") from None
        results = [None] * len(conns)
        go = threading.Event()

        def work(i):
            go.wait(timeout=30)
            user, conn = conns[i]
            try:
                results[i] = (user, conn.execute(sql).fetchone())
            except Exception as e:  # noqa: BLE001 - inspected by the caller
                results[i] = (user, e)

        threads = [threading.Thread(target=work, args=(i,), daemon=True)
                   for i in range(len(conns))]
        for t in threads:
            t.start()
        start = time.monotonic()
        go.set()
        for t in threads:
            t.join(timeout=max(0.1, start + timeout - time.monotonic()))
        hung = [conns[i][0] for i, r in enumerate(results) if r is None]
        if hung:
            raise AssertionError(f"{len(hung)} clients still running {sql!r} after {timeout} s")
        return results, start
    finally:
        for _, conn in conns:
            conn.close()


class BackendWatch(h.Sampler):
    """Counts the client backends of one database every `interval` s on a thread, over one
    superuser connection: .max is the most it saw, .max_by_user per user, .first_above(n) when
    the count first exceeded n, .samples how many counts it took. Use as a context manager, then
    call .check()."""

    def __init__(self, db, interval=0.02):
        super().__init__(self._count, interval)
        self.db = db
        self.max, self.max_by_user = 0, {}
        self.timeline = []  # (monotonic time, count) whenever the count changes
        self._conn = None

    @property
    def samples(self):
        return len(self.values)

    def _run(self):
        try:
            with h.superuser_conn("postgres") as self._conn:
                super()._run()
        except Exception as e:  # noqa: BLE001 - reported by check()
            self.error = e

    def _count(self):
        rows = self._conn.execute(
            "SELECT usename, count(*) FROM pg_stat_activity WHERE datname = %s "
            "AND backend_type = 'client backend' GROUP BY usename", (self.db,)).fetchall()
        now = time.monotonic()
        n = sum(r[1] for r in rows)
        self.max = max(self.max, n)
        for user, count in rows:
            self.max_by_user[user] = max(self.max_by_user.get(user, 0), count)
        if not self.timeline or self.timeline[-1][1] != n:
            self.timeline.append((now, n))
        return n

    def first_above(self, n):
        return next((t for t, count in self.timeline if count > n), None)

    def check(self):
        if self.error is not None:
            raise AssertionError(f"backend monitor failed: {self.error!r}") from self.error
        if self.samples == 0:
            raise AssertionError("backend monitor took no samples")


def read_to_close(sock, timeout):
    """Reads what the peer sends until it closes; returns (bytes, seconds until the close).
    Raises AssertionError if it is still open after timeout s."""
    start = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        raise AssertionError(f"the pooler kept the connection open for {timeout} s "
                             f"(received {data[:200]!r})") from None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - start


def split_messages(data):
    """Backend messages in a byte string: [(type, payload)]; a truncated tail is dropped."""
    out, pos = [], 0
    while pos + 5 <= len(data):
        length = struct.unpack("!i", data[pos + 1:pos + 5])[0]
        if pos + 1 + length > len(data):
            break
        out.append((data[pos:pos + 1], data[pos + 5:pos + 1 + length]))
        pos += 1 + length
    return out


def error_text(exc):
    """A psycopg error's primary message and its full text, for matching either."""
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    return f"{primary or ''} | {exc}"


class Case(unittest.TestCase):
    """A fresh database per case, and an alarm so that a hung client call fails the case.
    Subclasses set db_prefix (the database name's prefix) and case_limit (s)."""

    db_prefix = "db"
    case_limit = 150  # s; a case running longer than this is hung, and fails rather than waits

    def setUp(self):
        self.db = h.create_database(prefix=self.db_prefix)
        self.addCleanup(h.drop_database, self.db)

        h.arm_case_alarm(self, self.case_limit)

    def make_table(self):
        table = h.unique_name("t")
        with h.direct_conn(dbname=self.db) as c:
            c.execute(f"CREATE TABLE {table} (id int)")
            c.execute(f"GRANT ALL ON {table} TO PUBLIC")
        return table

    def count_rows(self, table):
        with h.direct_conn(dbname=self.db) as c:
            return c.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def connect(self, pooler, **kwargs):
        """A psycopg connection through the pooler to this case's database, as scramuser."""
        return pooler.connect("scramuser", dbname=self.db, prepare_threshold=None, **kwargs)

    def login(self, pooler, timeout=15):
        """A RawClient logged in through the pooler to this case's database, as scramuser."""
        client = RawClient(pooler.port, timeout=timeout)
        client.login("scramuser", self.db, h.password("scramuser"))
        return client
