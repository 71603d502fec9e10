#!/usr/bin/python3
"""Reload, PgBouncer 1.23 to 1.25 style.

RELOAD (console) and SIGHUP reread the ini: a bigger default_pool_size takes effect under a
running pgbench without a failed transaction; a broken file (syntax error or bad value) leaves the
running configuration wholly in force, is logged, and RELOAD answers SQLSTATE F0000 with
PgBouncer 1.25's "RELOAD failed, see logs for additional details" and the errors as its DETAIL; a
live setting changes without disturbing a connected client. A removed database lets its clients
finish the open transaction, then ends them with 57P01 and refuses new logins with 3D000; a
changed [databases] target is used for servers opened after the old ones are released.
Signals and shutdown are in test_shutdown_signals.py."""

import signal
import sys
import threading
import unittest

import psycopg

import harness as h
from harness import Pooler
from signal_support import (SETTINGS, assert_session_ended, console, db_line, log_lines,
                            open_servers, pool_row, raw_login, rewrite, show_config, wait_for_log,
                            write_raw_ini)


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


if __name__ == "__main__":
    h.main()
