#!/usr/bin/python3
"""Reload and signals, PgBouncer 1.23 style plus the transaction-mode drain.

RELOAD (console) and SIGHUP reread the ini: a bigger default_pool_size takes effect under a
running pgbench without a failed transaction; a broken file (syntax error or bad value) leaves the
running configuration wholly in force, is logged, and RELOAD answers SQLSTATE F0000 with
PgBouncer 1.25's "RELOAD failed, see logs for additional details" and the errors as its DETAIL; a
live setting changes without disturbing a connected client. A removed database lets its clients finish
the open transaction, then ends them with 57P01 and refuses new logins with 3D000; a changed
[databases] target is used for servers opened after the old ones are released.

SIGTERM waits for clients: session clients keep their session, transaction-mode clients finish
their transaction and are then told 57P01; the listener is closed and the process exits by itself
with 0 once the clients are gone; a second SIGTERM exits at once. SIGINT waits for servers to be
released. SIGUSR1 pauses, SIGUSR2 resumes. SIGQUIT exits at once."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient

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


class ReloadUnderLoad(h.PgbenchDatabaseCase):
    db_prefix = "reload_bench"

    def test_reload_grows_the_pool_while_pgbench_runs(self):
        dbs = {self.db: db_line(self.db)}
        with Pooler(SETTINGS, databases=dbs) as pooler, console(pooler) as admin:
            result = {}

            def bench():
                try:
                    result["proc"] = pooler.pgbench("-S", "-c", "10", "-j", "2", "-T", "10",
                                                    dbname=self.db, timeout=120)
                except BaseException as e:  # noqa: BLE001 - reported below
                    result["error"] = e

            runner = threading.Thread(target=bench, daemon=True)
            runner.start()
            try:
                # All ten clients in, contending for two servers.
                h.wait_until(lambda: (lambda r: r and r["cl_active"] + r["cl_waiting"] >= 10)(
                    pool_row(admin, self.db)), timeout=30, message="pgbench's 10 clients")
                before = open_servers(pool_row(admin, self.db))
                self.assertLessEqual(before, 2, "more servers than default_pool_size=2")

                rewrite(pooler, settings={**SETTINGS, "default_pool_size": 6})
                self.assertTrue(runner.is_alive(), "pgbench ended before the reload; the test "
                                                   "proves nothing")
                admin.execute("RELOAD")
                grown = h.wait_until(
                    lambda: (lambda n: n if n > 2 else None)(open_servers(
                        pool_row(admin, self.db))),
                    timeout=30, message="the pool to open more than 2 servers after RELOAD")
                still_running = runner.is_alive()
                most = grown
                while runner.is_alive():
                    most = max(most, open_servers(pool_row(admin, self.db)))
                    runner.join(timeout=0.1)
            finally:
                runner.join(timeout=150)
            self.assertFalse(runner.is_alive(), "pgbench did not finish")
            if "error" in result:
                raise result["error"]
            proc = result["proc"]
            print(f"\n  servers: {before} before RELOAD, {grown} after, at most {most}; "
                  f"grown while pgbench ran: {still_running}", file=sys.stderr)
            processed, failed = h.pgbench_counts(self, proc)
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0, (proc.stdout + proc.stderr)[-3000:])
            self.assertLessEqual(most, 6, "more servers than default_pool_size=6")
            self.assertLessEqual(len(h.backends(dbname=self.db)), 6)
            self.assertEqual(show_config(pooler)["default_pool_size"], "6")


class Reload(unittest.TestCase):
    def test_sighup_with_a_broken_file_keeps_the_running_config(self):
        with Pooler(SETTINGS) as pooler:
            good_text = pooler.ini_text
            with pooler.connect() as client:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                broken = {
                    # A line that is not 'name = value', next to a valid change.
                    "syntax error": good_text.replace(
                        "[databases]", "this line is not a setting\n\n[databases]").replace(
                        "query_wait_timeout = 60", "query_wait_timeout = 45"),
                    # A bad value, next to a valid change.
                    "invalid value": good_text.replace(
                        "default_pool_size = 2", "default_pool_size = banana").replace(
                        "query_wait_timeout = 60", "query_wait_timeout = 45"),
                }
                for what, text in broken.items():
                    with self.subTest(what):
                        self.assertNotEqual(text, good_text)
                        write_raw_ini(pooler, text)
                        mark = len(log_lines(pooler))
                        pooler.send_signal(signal.SIGHUP)
                        # An error-level line that names the reload.
                        wait_for_log(pooler, r"\b(error|critical|fatal)\b.*reload", after=mark,
                                     what="an error line in the log about the failed reload")
                        self.assertTrue(pooler.alive(), "the pooler exited on SIGHUP")
                        config = show_config(pooler)
                        self.assertEqual(config["default_pool_size"], "2", what)
                        self.assertEqual(config["query_wait_timeout"], "60",
                                         f"{what}: part of the broken file was applied")
                        # Clients old and new still work.
                        self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                        pooler.assert_healthy(self)

                        with console(pooler) as admin:
                            with self.assertRaises(psycopg.Error) as cm:
                                admin.execute("RELOAD")
                            self.assertEqual(cm.exception.sqlstate, "F0000", str(cm.exception))
                            # PgBouncer 1.25's words; the errors themselves in the DETAIL.
                            diag = cm.exception.diag
                            self.assertEqual(diag.message_primary,
                                             "RELOAD failed, see logs for additional details")
                            self.assertIn("pooler.ini:", diag.message_detail or "", what)
                            # The console session survives the error.
                            self.assertEqual(admin.execute("SHOW VERSION").rowcount, 1)
                        self.assertEqual(show_config(pooler)["default_pool_size"], "2", what)
                        self.assertEqual(client.execute("SELECT 3").fetchone()[0], 3)
            # A fixed file reloads again.
            write_raw_ini(pooler, good_text.replace("query_wait_timeout = 60",
                                                    "query_wait_timeout = 45"))
            with console(pooler) as admin:
                admin.execute("RELOAD")
            self.assertEqual(show_config(pooler)["query_wait_timeout"], "45")

    def test_sighup_applies_live_settings_without_dropping_a_client(self):
        settings = {**SETTINGS, "pool_mode": "session"}
        with Pooler(settings) as pooler, pooler.connect() as client:
            pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
            before = show_config(pooler)
            self.assertEqual((before["default_pool_size"], before["query_wait_timeout"]),
                             ("2", "60"))
            rewrite(pooler, settings={**settings, "default_pool_size": 5,
                                      "query_wait_timeout": 33})
            pooler.send_signal(signal.SIGHUP)
            h.wait_until(lambda: show_config(pooler)["query_wait_timeout"] == "33", timeout=20,
                         message="query_wait_timeout 33 in SHOW CONFIG after SIGHUP")
            self.assertEqual(show_config(pooler)["default_pool_size"], "5")
            self.assertTrue(pooler.alive())
            # The session and its server are the same as before the reload.
            self.assertEqual(client.execute("SELECT pg_backend_pid()").fetchone()[0], pid)
            with client.transaction():
                self.assertEqual(client.execute("SELECT 7").fetchone()[0], 7)
            pooler.assert_healthy(self)

    def test_removed_database_ends_its_clients_at_the_transaction_boundary(self):
        main = h.state()["database"]
        alias = "reload_alias"
        dbs = {main: db_line(main), alias: db_line(main)}
        with Pooler(SETTINGS, databases=dbs) as pooler:
            leaving = pooler.connect(dbname=alias, autocommit=False)
            staying = pooler.connect(dbname=main, autocommit=False)
            try:
                self.assertEqual(leaving.execute("SELECT 1").fetchone()[0], 1)  # BEGIN; open
                self.assertEqual(staying.execute("SELECT 1").fetchone()[0], 1)  # BEGIN; open
                rewrite(pooler, databases={main: db_line(main)})
                with console(pooler) as admin:
                    admin.execute("RELOAD")
                    self.assertNotIn(alias, [r["name"] for r in h.show(admin, "DATABASES")[1]])
                # The open transaction goes on and commits.
                self.assertEqual(leaving.execute("SELECT 2").fetchone()[0], 2)
                leaving.commit()
                # Then the session is over.
                assert_session_ended(self, lambda: leaving.execute("SELECT 3").fetchone(),
                                     "the removed database's client after COMMIT")
                # The other database's client saw nothing.
                self.assertEqual(staying.execute("SELECT 2").fetchone()[0], 2)
                staying.commit()
                self.assertEqual(staying.execute("SELECT 3").fetchone()[0], 3)
                staying.commit()
            finally:
                leaving.close()
                staying.close()
            with self.assertRaises(h.PgError) as cm:
                raw_login(pooler, db=alias)
            self.assertEqual(cm.exception.sqlstate, "3D000", str(cm.exception))
            with self.assertRaises(psycopg.OperationalError):
                pooler.connect(dbname=alias)
            pooler.assert_healthy(self)

    def test_changed_target_is_used_once_the_old_server_is_released(self):
        first, second = h.create_database(prefix="reload_a"), h.create_database(prefix="reload_b")
        try:
            name = "reload_target"
            settings = {**SETTINGS, "pool_mode": "session", "default_pool_size": 1}
            with Pooler(settings, databases={name: db_line(first)}) as pooler:
                with pooler.connect(dbname=name) as old:
                    old_pid, db = old.execute(
                        "SELECT pg_backend_pid(), current_database()").fetchone()
                    self.assertEqual(db, first)
                    rewrite(pooler, databases={name: db_line(second)})
                    with console(pooler) as admin:
                        admin.execute("RELOAD")
                    # The session in progress keeps its server until it leaves.
                    self.assertEqual(old.execute("SELECT pg_backend_pid()").fetchone()[0],
                                     old_pid)
                with pooler.connect(dbname=name) as new:
                    new_pid, db = new.execute(
                        "SELECT pg_backend_pid(), current_database()").fetchone()
                    self.assertEqual(db, second, "a new session got a server of the old target")
                    self.assertNotEqual(new_pid, old_pid)
                h.wait_until(lambda: not h.backends(dbname=first), timeout=20,
                             message=f"the server of the old target ({first}) to be closed")
        finally:
            h.drop_database(first)
            h.drop_database(second)


class Signals(unittest.TestCase):
    def signal_handled(self, pooler, signum):
        """Sends signum and waits for the log to say the pooler got it."""
        name = signal.Signals(signum).name
        mark = len(log_lines(pooler))
        pooler.send_signal(signum)
        wait_for_log(pooler, rf"got {name}", after=mark, what=f"the log to say 'got {name}'")

    def test_sigterm_waits_for_clients_that_keep_working_across_transactions(self):
        # PgBouncer's SIGTERM (WAIT_FOR_CLIENTS): no new TCP clients, the connected ones go on
        # until they leave, the console stays reachable over the unix socket.
        with Pooler(SETTINGS) as pooler:
            client = pooler.connect(autocommit=False)
            try:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                self.signal_handled(pooler, signal.SIGTERM)
                h.wait_until(lambda: refuses_tcp(pooler), timeout=20,
                             message="the TCP listener to be closed after SIGTERM")
                client.commit()
                for i in range(5):
                    time.sleep(0.3)
                    with client.transaction():
                        self.assertEqual(client.execute("SELECT %s::int", (i,)).fetchone()[0], i)
                    client.commit()
                self.assertTrue(pooler.alive(), "exited with a client still connected")
                assert_unix_console_only(self, pooler)
                # RESUME does not undo a shutdown.
                with unix_console(pooler) as admin:
                    with self.assertRaises(psycopg.Error) as caught:
                        admin.execute("RESUME")
                    self.assertIn("shutting down", str(caught.exception))
                self.assertTrue(pooler.alive())
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGTERM once its only client was gone")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_shutdown_drain_on_the_console_ends_clients_at_their_boundary(self):
        with Pooler(SETTINGS) as pooler:
            client = raw_login(pooler)
            try:
                client.query("BEGIN")
                pooler._term_sent = True  # told to go by the console: no crash
                with unix_console(pooler) as admin:
                    admin.execute("SHUTDOWN DRAIN")
                h.wait_until(lambda: refuses_tcp(pooler), timeout=20,
                             message="the TCP listener to be closed after SHUTDOWN DRAIN")
                self.assertEqual(client.query("SELECT 2"), [["2"]])
                client.query("COMMIT")
                assert_raw_session_ended(self, client, "after COMMIT during SHUTDOWN DRAIN")
            finally:
                client.close()
            code = wait_exit(self, pooler, "SHUTDOWN DRAIN once its only client was gone")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_sigterm_drains_a_transaction_client_at_its_boundary(self):
        with Pooler({**SETTINGS, "drain_on_sigterm": 1}) as pooler:
            client = raw_login(pooler)
            try:
                client.query("BEGIN")
                self.assertEqual(client.query("SELECT 1"), [["1"]])
                self.signal_handled(pooler, signal.SIGTERM)
                h.wait_until(lambda: refuses_tcp(pooler), timeout=20,
                             message="the listener to be closed after SIGTERM")
                with self.assertRaises((OSError, psycopg.OperationalError)):
                    pooler.connect(connect_timeout=5)
                # The transaction goes on and commits.
                self.assertEqual(client.query("SELECT 2"), [["2"]])
                self.assertTrue(pooler.alive(), "exited with a client inside a transaction")
                client.query("COMMIT")
                self.assertEqual(client.transaction_status, b"I")
                assert_raw_session_ended(self, client, "after COMMIT during SIGTERM")
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGTERM once its only client was gone")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_sigterm_drains_a_transaction_client_over_psycopg(self):
        with Pooler({**SETTINGS, "drain_on_sigterm": 1}) as pooler:
            client = pooler.connect(autocommit=False)
            try:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                self.signal_handled(pooler, signal.SIGTERM)
                self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                client.commit()
                assert_session_ended(self, lambda: client.execute("SELECT 3").fetchone(),
                                     "psycopg client after COMMIT during SIGTERM")
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGTERM once its only client was gone")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_sigterm_keeps_a_session_client_until_it_leaves(self):
        # Also when SIGTERM drains: a session is not cut short.
        with Pooler({**SETTINGS, "pool_mode": "session", "drain_on_sigterm": 1}) as pooler:
            client = pooler.connect()
            try:
                pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
                self.signal_handled(pooler, signal.SIGTERM)
                h.wait_until(lambda: refuses_tcp(pooler), timeout=20,
                             message="the listener to be closed after SIGTERM")
                # Several janitor rounds pass; the idle session client is still served.
                for i in range(5):
                    time.sleep(0.3)
                    self.assertTrue(pooler.alive(), "exited with a session client connected")
                    self.assertEqual(
                        client.execute("SELECT pg_backend_pid(), %s::int", (i,)).fetchone(),
                        (pid, i))
                with client.transaction():
                    self.assertEqual(client.execute("SELECT 8").fetchone()[0], 8)
                self.assertTrue(pooler.alive())
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGTERM once the session client left")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_second_sigterm_exits_with_a_session_client_connected(self):
        with Pooler({**SETTINGS, "pool_mode": "session"}) as pooler:
            with pooler.connect() as client:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                self.signal_handled(pooler, signal.SIGTERM)
                self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                self.assertTrue(pooler.alive())
                pooler.send_signal(signal.SIGTERM)
                code = wait_exit(self, pooler, "SIGTERM once its only client had committed")
                self.assertEqual(code, 0, h.describe_exit(code))
                with self.assertRaises(psycopg.OperationalError):
                    client.execute("SELECT 3")

    def test_sigint_waits_for_the_open_transaction(self):
        with Pooler(SETTINGS) as pooler:
            client = pooler.connect(autocommit=False)
            try:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                self.signal_handled(pooler, signal.SIGINT)
                h.wait_until(lambda: refuses_tcp(pooler), timeout=20,
                             message="the listener to be closed after SIGINT")
                time.sleep(0.5)  # janitor rounds: the held server must keep the process up
                self.assertTrue(pooler.alive(), "exited while a server was in a transaction")
                self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                client.commit()
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGINT once the server was released")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_sigusr1_pauses_and_sigusr2_resumes(self):
        db = h.state()["database"]
        with Pooler(SETTINGS) as pooler, console(pooler) as admin, pooler.connect() as client:
            self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
            self.assertEqual(dict(admin.execute("SHOW STATE").fetchall()).get("paused"), "no")
            pooler.send_signal(signal.SIGUSR1)
            h.wait_until(lambda: dict(admin.execute("SHOW STATE").fetchall()).get("paused")
                         == "yes", timeout=20, message="SHOW STATE paused=yes after SIGUSR1")
            dbrow = [r for r in h.show(admin, "DATABASES")[1] if r["name"] == db]
            self.assertTrue(dbrow and dbrow[0]["paused"] == 1, dbrow)

            result = {}

            def query():
                try:
                    result["value"] = client.execute("SELECT 42").fetchone()[0]
                except Exception as e:  # noqa: BLE001 - reported below
                    result["error"] = e

            waiter = threading.Thread(target=query, daemon=True)
            waiter.start()
            try:
                h.wait_until(lambda: (lambda r: r and r["cl_waiting"] >= 1)(
                    pool_row(admin, db)), timeout=20,
                    message="the query to wait in the paused pool (cl_waiting >= 1)")
                self.assertTrue(waiter.is_alive(), f"the query was answered while paused: "
                                                   f"{result}")
                pooler.send_signal(signal.SIGUSR2)
            finally:
                waiter.join(timeout=30)
            self.assertFalse(waiter.is_alive(), "the query still waits after SIGUSR2")
            self.assertEqual(result, {"value": 42})
            self.assertEqual(dict(admin.execute("SHOW STATE").fetchall()).get("paused"), "no")
            dbrow = [r for r in h.show(admin, "DATABASES")[1] if r["name"] == db]
            self.assertEqual(dbrow[0]["paused"], 0, dbrow)

    def test_sigquit_exits_at_once(self):
        with Pooler({**SETTINGS, "pool_mode": "session"}) as pooler:
            with pooler.connect(autocommit=False) as client:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)  # open transaction
                pooler.send_signal(signal.SIGQUIT)
                code = wait_exit(self, pooler, "SIGQUIT with a client in a transaction")
                self.assertEqual(code, 0, h.describe_exit(code))
                with self.assertRaises(psycopg.OperationalError):
                    client.execute("SELECT 2")


if __name__ == "__main__":
    h.main()
