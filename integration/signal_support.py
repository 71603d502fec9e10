"""What the reload and signal test files share: the settings they start a pooler with, the
console over TCP and over the unix socket, the log, and how a session ends or a process exits."""

import re
import socket
import subprocess

import psycopg

import harness as h
from harness import RawClient

ADMIN = "scramuser"
SETTINGS = {"pool_mode": "transaction", "default_pool_size": 2, "admin_users": ADMIN,
            "query_wait_timeout": 60, "max_client_conn": 100}
EXIT_DEADLINE = 30.0  # s; a pooler told to exit that is still running after this is hung


def db_line(db, **options):
    return f"host={h.HOST} port={h.pg_port()} dbname={db}" + "".join(
        f" {k}={v}" for k, v in options.items())


def console(pooler):
    return pooler.connect(ADMIN, dbname="pgbouncer")


def show_config(pooler):
    with console(pooler) as admin:
        return {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}


def pool_row(admin, db, user="scramuser"):
    rows = [r for r in h.show(admin, "POOLS")[1] if r["database"] == db and r["user"] == user]
    return rows[0] if rows else None


def open_servers(row):
    if row is None:
        return 0
    return sum(row[k] for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


def rewrite(pooler, settings=None, databases=None):
    """Rewrites the pooler's ini with changed [pooler] settings and/or [databases]."""
    if settings is not None:
        pooler.settings = dict(settings)
    if databases is not None:
        pooler.databases = dict(databases)
    pooler.write_config()


def write_raw_ini(pooler, text):
    with open(pooler.ini, "w") as f:
        f.write(text)


def log_lines(pooler):
    return pooler.log().splitlines()


def wait_for_log(pooler, pattern, after=0, timeout=20, what=None):
    """Waits for a log line matching pattern (regex, case-insensitive) among the lines after the
    first `after` lines; returns it."""
    rx = re.compile(pattern, re.IGNORECASE)

    def found():
        for line in log_lines(pooler)[after:]:
            if rx.search(line):
                return line
        return None
    return h.wait_until(found, timeout=timeout, interval=0.05,
                        message=what or f"a log line matching {pattern!r}")


def refuses_tcp(pooler):
    """The TCP listener accepts no connection any more (a shutdown keeps the unix socket for the
    console)."""
    try:
        with socket.create_connection((h.HOST, pooler.port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def unix_console(pooler):
    """The admin console over the pooler's unix socket."""
    return psycopg.connect(pooler.dsn(ADMIN, dbname="pgbouncer", host=pooler.dir),
                           autocommit=True)


def assert_unix_console_only(test, pooler):
    """During a shutdown the unix socket still admits the console, and refuses other logins."""
    with unix_console(pooler) as admin:
        names, _ = h.show(admin, "POOLS")
        test.assertIn("cl_active", names)
    with test.assertRaises(psycopg.OperationalError) as caught:
        psycopg.connect(pooler.dsn(ADMIN, host=pooler.dir), autocommit=True).close()
    test.assertIn("pooler is shutting down", str(caught.exception))


def wait_exit(test, pooler, what):
    try:
        return pooler.proc.wait(timeout=EXIT_DEADLINE)
    except subprocess.TimeoutExpired:
        test.fail(f"pooler still running {EXIT_DEADLINE} s after {what}")


def raw_login(pooler, db=None, user="scramuser"):
    client = RawClient(pooler.port, timeout=20)
    try:
        client.login(user, db or h.state()["database"], h.password(user))
    except BaseException:
        client.close()
        raise
    return client


def assert_session_ended(test, action, what):
    """action() (a query on a client whose session the pooler ends) must fail; if the failure
    carries a SQLSTATE, it is 57P01 (admin_shutdown)."""
    with test.assertRaises(psycopg.OperationalError, msg=f"{what}: the query still worked") as cm:
        action()
    sqlstate = getattr(cm.exception, "sqlstate", None)
    if sqlstate is not None:
        test.assertEqual(sqlstate, "57P01", f"{what}: {cm.exception}")
    return cm.exception


def assert_raw_session_ended(test, client, what):
    """After the pooler ends a raw client's session: a next query gets no result; whatever error
    can be read before EOF is 57P01."""
    try:
        client.send_query("SELECT 3")
    except (BrokenPipeError, ConnectionResetError):
        return
    while True:
        try:
            kind, payload = client.read()
        except TimeoutError:
            test.fail(f"{what}: the session neither ended nor answered the next query")
        except (ConnectionError, OSError):
            return
        if kind == b"E":
            fields = h.error_fields(payload)
            test.assertEqual(fields.get("C"), "57P01", f"{what}: {fields}")
        else:
            test.assertNotIn(kind, (b"D", b"C", b"T", b"Z"),
                             f"{what}: the query after the boundary was answered ({kind!r})")
