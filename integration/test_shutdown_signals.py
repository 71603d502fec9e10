#!/usr/bin/python3
"""Signals and shutdown, PgBouncer 1.23 style plus the transaction-mode drain.

SIGTERM waits for clients: session clients keep their session, transaction-mode clients finish
their transaction and are then told 57P01; the listener is closed and the process exits by itself
with 0 once the clients are gone; a second SIGTERM exits at once. SIGINT waits for servers to be
released. SIGUSR1 pauses, SIGUSR2 resumes; a pause from before a shutdown stays, SIGUSR2 is then
ignored and RESUME refused, as in PgBouncer; SIGTERM during SUSPEND goes down at once. SIGQUIT
exits at once. Each signal is logged in PgBouncer's words."""

import signal
import subprocess
import sys
import threading
import time
import unittest

import psycopg

import harness as h
from harness import Pooler
from signal_support import (SETTINGS, assert_raw_session_ended, assert_session_ended,
                            assert_unix_console_only, console, log_lines, pool_row, raw_login,
                            refuses_tcp, unix_console, wait_exit, wait_for_log)


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

    def test_a_pause_from_before_sigterm_stays_and_sigusr2_is_ignored(self):
        # PgBouncer 1.23+: the shutdown keeps a PAUSE in force; neither SIGUSR2 nor RESUME
        # lifts it, the paused client still counts, and the process waits for it to leave.
        db = h.state()["database"]
        with Pooler(SETTINGS) as pooler:
            client = raw_login(pooler)
            try:
                mark = len(log_lines(pooler))
                pooler.send_signal(signal.SIGUSR2)
                wait_for_log(pooler, r"got SIGUSR2, but not paused/suspended", after=mark)
                with console(pooler) as admin:
                    admin.execute("PAUSE")
                    client.send_query("SELECT 42")
                    h.wait_until(lambda: (lambda r: r and r["cl_waiting"] >= 1)(
                        pool_row(admin, db)), timeout=20,
                        message="the query to wait in the paused pool (cl_waiting >= 1)")
                mark = len(log_lines(pooler))
                pooler.send_signal(signal.SIGTERM)
                wait_for_log(pooler, r"got SIGTERM, shutting down, waiting for all clients "
                                     r"disconnect", after=mark)
                pooler.send_signal(signal.SIGUSR2)
                wait_for_log(pooler, r"got SIGUSR2 while shutting down, ignoring", after=mark)
                with unix_console(pooler) as admin:
                    self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["paused"],
                                     "yes")
                    with self.assertRaises(psycopg.Error) as caught:
                        admin.execute("RESUME")
                    self.assertIn("pooler is shutting down", str(caught.exception))
                # Still paused: the query has no answer, and the process waits for the client.
                client.sock.settimeout(1.5)
                with self.assertRaises(TimeoutError, msg="answered during a paused shutdown"):
                    client.read()
                self.assertTrue(pooler.alive(), "exited with a paused client still connected")
            finally:
                client.close()
            code = wait_exit(self, pooler, "SIGTERM once the paused client was gone")
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_sigterm_during_suspend_goes_down_at_once(self):
        with Pooler(SETTINGS) as pooler, pooler.connect() as client:
            self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
            with console(pooler) as admin:
                admin.execute("SUSPEND")
                mark = len(log_lines(pooler))
                pooler.send_signal(signal.SIGTERM)
                wait_for_log(pooler, r"suspend was in progress, going down immediately",
                             after=mark)
                code = wait_exit(self, pooler, "SIGTERM during SUSPEND")
            self.assertEqual(code, 0, h.describe_exit(code))
            pooler._term_sent = True

    def test_sigquit_exits_at_once(self):
        with Pooler({**SETTINGS, "pool_mode": "session"}) as pooler:
            with pooler.connect(autocommit=False) as client:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)  # open transaction
                pooler.send_signal(signal.SIGQUIT)
                code = wait_exit(self, pooler, "SIGQUIT with a client in a transaction")
                self.assertEqual(code, 0, h.describe_exit(code))
                with self.assertRaises(psycopg.OperationalError):
                    client.execute("SELECT 2")


class DrainUnderPgbench(h.PgbenchDatabaseCase):
    db_prefix = "drain"

    def test_drain_on_sigterm_moves_pgbench_to_the_other_replica_without_a_failure(self):
        # Two poolers stand for two replicas behind a Service. pgbench -C names both, as a
        # client library with a host list does; the first is told SIGTERM mid-run.
        databases = {self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"}
        settings = {"pool_mode": "transaction", "default_pool_size": 4, "drain_on_sigterm": 1,
                    "admin_users": "scramuser"}
        with Pooler(settings, databases=databases) as first, \
                Pooler(settings, databases=databases) as second:
            bench = subprocess.Popen(
                ["pgbench", "-h", f"{h.HOST},{h.HOST}", "-p", f"{first.port},{second.port}",
                 "-U", "scramuser", "-C", "-c", "4", "-T", "8", "-n", self.db],
                env=first.client_env("scramuser", None), stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(3)
                mark = len(log_lines(first))
                first.send_signal(signal.SIGTERM)
                wait_for_log(first, r"got SIGTERM, shutting down, draining clients at their "
                                    r"transaction boundary", after=mark)
                code = wait_exit(self, first, "SIGTERM with drain_on_sigterm = 1 under pgbench")
                self.assertEqual(code, 0, h.describe_exit(code))
                stdout, stderr = bench.communicate(timeout=60)
            finally:
                if bench.poll() is None:
                    bench.kill()
                    bench.communicate()
            processed, failed = h.pgbench_counts(
                self, subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr))
            with console(second) as admin:
                served = sum(r["total_xact_count"] for r in h.show(admin, "STATS")[1]
                             if r["database"] == self.db)
            print(f"\n  pgbench -C over two poolers, the first drained: {processed} "
                  f"transactions, {failed} failed, {served} on the second", file=sys.stderr)
            self.assertEqual(failed, 0)
            self.assertGreater(served, 0, "the second pooler took none of the load")


if __name__ == "__main__":
    h.main()
