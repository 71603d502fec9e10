#!/usr/bin/python3
"""The admin console's control commands and live statistics, as an operator uses them: SHOW STATS
and its siblings count what pgbench did (and SHOW POOLS shows the queue while it runs); PAUSE
waits for servers to be released and holds new queries until RESUME; DISABLE refuses new logins
(55000) until ENABLE; KILL disconnects a database's clients (57P01) and leaves it paused;
KILL_CLIENT disconnects one client by SHOW CLIENTS' id; RECONNECT replaces servers as they are
released and WAIT_CLOSE waits for that; SET changes a live setting, with 42704 / 55P02 / 22023 for
an unknown key, a restart-only key and a bad value; a stats user may run none of these (42501).
PauseEdgeCases holds a RESUME that races a pending PAUSE, and RESUME <db> under a global PAUSE.
SUSPEND stops every connection but the console's until RESUME or SIGUSR2.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import os
import signal
import sys
import threading

import psycopg

import harness as h
import isolated_db
from isolated_db import db_backends, db_pooler, read_to_close, split_messages

CASE_LIMIT = 150  # s; a case running longer than this is hung, and fails rather than waits
DEADLINE = 30  # s; generous bound for anything that should happen "soon"

SETTINGS = {"auth_type": "scram-sha-256", "pool_mode": "transaction", "default_pool_size": 2,
            "admin_users": "scramuser", "stats_users": "md5user", "query_wait_timeout": 60}

STATS_FIELDS = ["server_assignment_count", "xact_count", "query_count", "received", "sent",
                "xact_time", "query_time", "wait_time", "client_parse_count",
                "server_parse_count", "bind_count", "client_login_count"]
AVG_FIELDS = ["server_assignment_count", "xact_count", "query_count", "recv", "sent",
              "xact_time", "query_time", "wait_time", "client_parse_count",
              "server_parse_count", "bind_count", "client_login_count"]
STATS_COLUMNS = (["database"] + [f"total_{f}" for f in STATS_FIELDS]
                 + [f"avg_{f}" for f in AVG_FIELDS])
# SHOW STATS_TOTALS / STATS_AVERAGES name the fields as PgBouncer's stats.c does: bytes_* for
# the traffic, and in STATS_AVERAGES an avg_ prefix only on the fields after wait_time.
PLAIN_FIELDS = ["server_assignment_count", "xact_count", "query_count", "bytes_received",
                "bytes_sent", "xact_time", "query_time", "wait_time", "client_parse_count",
                "server_parse_count", "bind_count", "client_login_count"]
STATS_TOTALS_COLUMNS = ["database"] + PLAIN_FIELDS
STATS_AVERAGES_COLUMNS = (["database"] + PLAIN_FIELDS[:8]
                          + [f"avg_{f}" for f in PLAIN_FIELDS[8:]])
MEM_COLUMNS = ["name", "size", "used", "free", "memtotal"]


def console(pooler, user="scramuser", **kwargs):
    return pooler.connect(user, dbname="pgbouncer", **kwargs)


def console_command(pooler, sql, user="scramuser"):
    """Runs one console command on a connection of its own (for a thread); returns its status."""
    with console(pooler, user) as admin:
        return admin.execute(sql).statusmessage




def rows_for(admin, what, db):
    """The rows of a SHOW command for one database (SHOW DATABASES: by its name column)."""
    key = "name" if what.upper() == "DATABASES" else "database"
    return [r for r in h.show(admin, what)[1] if r[key] == db]


def one_row(admin, what, db):
    rows = rows_for(admin, what, db)
    if len(rows) != 1:
        raise AssertionError(f"SHOW {what}: expected one row for {db}, got {rows}")
    return rows[0]


def sqlstate_of(exc):
    """The SQLSTATE psycopg kept for an error, or None (libpq drops it for a FATAL + EOF)."""
    state = getattr(exc, "sqlstate", None)
    if state is None and getattr(exc, "diag", None) is not None:
        state = exc.diag.sqlstate
    return state


class Background:
    """fn() on a daemon thread; .result / .error once it is done."""

    def __init__(self, fn):
        self.result, self.error, self.done = None, None, threading.Event()
        self._fn = fn
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.result = self._fn()
        except BaseException as e:  # noqa: BLE001 - inspected by the test
            self.error = e
        finally:
            self.done.set()

    def still_running_after(self, seconds):
        """True if fn has not finished within `seconds` (a blocking check, not a timing one)."""
        return not self.done.wait(seconds)

    def join(self, what, timeout=DEADLINE):
        if not self.done.wait(timeout):
            raise AssertionError(f"{what} did not finish within {timeout} s")
        if self.error is not None:
            raise AssertionError(f"{what} failed: {self.error!r}") from self.error
        return self.result


class Case(isolated_db.Case):
    db_prefix, case_limit = "ctl", CASE_LIMIT

    def pooler(self, **overrides):
        return db_pooler(self.db, dict(SETTINGS, **overrides))

    def assert_console_error(self, admin, sql, sqlstate):
        with self.assertRaises(psycopg.Error, msg=f"{sql!r} did not fail") as caught:
            admin.execute(sql)
        self.assertEqual(caught.exception.sqlstate, sqlstate,
                         f"{sql!r}: {caught.exception!r}")
        # The console session goes on after an error.
        self.assertEqual(admin.execute("SHOW VERSION").rowcount, 1)

    def assert_admin_shutdown(self, exc, what):
        """A psycopg error that is PgBouncer's 57P01 FATAL: by SQLSTATE when libpq kept it,
        else by the pooler's message."""
        state = sqlstate_of(exc)
        text = isolated_db.error_text(exc)
        if state is not None:
            self.assertEqual(state, "57P01", f"{what}: {text}")
        else:
            self.assertIn("administrator", text, f"{what}: no SQLSTATE and not the pooler's "
                                                  f"admin shutdown message: {text}")

    def assert_fatal_on_wire(self, client, sqlstate, what):
        """The RawClient is sent an ErrorResponse with `sqlstate`, then the connection closes."""
        data, _ = read_to_close(client.sock, timeout=DEADLINE)
        errors = [h.error_fields(p) for k, p in split_messages(data) if k == b"E"]
        self.assertTrue(errors, f"{what}: no ErrorResponse before the close: {data[:300]!r}")
        self.assertEqual(errors[0].get("C"), sqlstate, f"{what}: {errors[0]}")
        self.assertEqual(errors[0].get("S"), "FATAL", f"{what}: {errors[0]}")
        return errors[0]

    def wait_no_backends(self, what):
        h.wait_until(lambda: not db_backends(self.db), timeout=DEADLINE, interval=0.1,
                     message=f"{what}: the database's servers to close")

    def wait_backend_gone(self, pid, what):
        """The pooler closed the server; PostgreSQL notices the EOF a moment later."""
        h.wait_until(lambda: pid not in [b[0] for b in db_backends(self.db)], timeout=DEADLINE,
                     interval=0.1, message=f"backend {pid} to exit: {what}")

    def wait_cl_waiting(self, admin, at_least=1):
        return h.wait_until(
            lambda: (lambda r: r if r and r[0]["cl_waiting"] >= at_least else None)(
                rows_for(admin, "POOLS", self.db)),
            timeout=DEADLINE, message=f"cl_waiting >= {at_least} in SHOW POOLS for {self.db}")[0]

    def db_flags(self, admin):
        row = one_row(admin, "DATABASES", self.db)
        return row["paused"], row["disabled"]


class StatsUnderLoad(Case):
    def test_pgbench_is_counted_and_the_queue_is_visible(self):
        clients = 8
        with self.pooler(default_pool_size=2, stats_period=1) as pooler:
            script = os.path.join(pooler.dir, "select.sql")
            with open(script, "w") as f:
                f.write("SELECT pg_sleep(0.002);\n")
            pools_conn, stats_conn = console(pooler), console(pooler)
            try:
                with h.Sampler(lambda: rows_for(pools_conn, "POOLS", self.db),
                               interval=0.02) as pools, \
                        h.Sampler(lambda: rows_for(stats_conn, "STATS", self.db),
                                  interval=0.2) as stats:
                    proc = pooler.pgbench("-n", "-f", script, "-c", clients, "-j", 2,
                                          "-T", 5, dbname=self.db, timeout=120)
                pools.check()
                stats.check()
            finally:
                pools_conn.close()
                stats_conn.close()
            processed, _ = h.pgbench_counts(self, proc)
            self.assertGreater(processed, 0)

            pool_samples = [r for sample in pools.values for r in sample]
            queued = [r for r in pool_samples
                      if r["cl_waiting"] > 0 and (r["maxwait"] > 0 or r["maxwait_us"] > 0)]
            print(f"\n  {processed} transactions; {len(pools.values)} SHOW POOLS samples, "
                  f"{len(queued)} with a queue; max cl_waiting "
                  f"{max((r['cl_waiting'] for r in pool_samples), default=None)}, max maxwait_us "
                  f"{max((r['maxwait_us'] for r in pool_samples), default=None)}",
                  file=sys.stderr)
            self.assertTrue(queued, f"{clients} clients on a pool of 2: SHOW POOLS never showed "
                                    f"cl_waiting > 0 with maxwait > 0 "
                                    f"({len(pools.values)} samples)")
            for r in pool_samples:
                self.assertLessEqual(r["sv_active"], 2, r)

            averages = [r[0]["avg_xact_count"] for r in stats.values if r]
            self.assertTrue(any(a > 0 for a in averages),
                            f"avg_xact_count never rose above 0 with stats_period=1 during a "
                            f"5 s run: {averages}")

            with console(pooler) as admin:
                names, _ = h.show(admin, "STATS")
                self.assertEqual(names, STATS_COLUMNS)
                st = one_row(admin, "STATS", self.db)
                print(f"  SHOW STATS: {st}", file=sys.stderr)
                self.assertGreaterEqual(st["total_xact_count"], processed, st)
                self.assertGreaterEqual(st["total_query_count"], st["total_xact_count"], st)
                self.assertGreater(st["total_received"], 0, st)
                self.assertGreater(st["total_sent"], 0, st)
                self.assertGreater(st["total_wait_time"], 0, st)
                self.assertGreater(st["total_xact_time"], 0, st)
                self.assertGreater(st["total_query_time"], 0, st)
                self.assertGreater(st["total_server_assignment_count"], 0, st)
                self.assertGreaterEqual(st["total_client_login_count"], clients, st)

                names, _ = h.show(admin, "STATS_TOTALS")
                self.assertEqual(names, STATS_TOTALS_COLUMNS)
                totals = one_row(admin, "STATS_TOTALS", self.db)
                self.assertGreaterEqual(totals["xact_count"], st["total_xact_count"], totals)
                self.assertGreaterEqual(totals["bytes_received"], st["total_received"], totals)

                names, _ = h.show(admin, "STATS_AVERAGES")
                self.assertEqual(names, STATS_AVERAGES_COLUMNS)
                one_row(admin, "STATS_AVERAGES", self.db)

                names, rows = h.show(admin, "TOTALS")
                self.assertEqual(names, ["name", "value"])
                total_rows = {r["name"]: r["value"] for r in rows}
                for key in ("total_xact_count", "total_query_count", "total_wait_time",
                            "avg_xact_count"):
                    self.assertIn(key, total_rows, sorted(total_rows))
                self.assertGreaterEqual(total_rows["total_xact_count"], st["total_xact_count"])

                names, rows = h.show(admin, "MEM")
                self.assertEqual(names, MEM_COLUMNS)
                self.assertTrue(rows, "SHOW MEM has no rows")
                for r in rows:
                    self.assertEqual(r["memtotal"], r["size"] * r["used"], r)

    def test_transactions_and_assignments_are_counted_as_pgbouncer_does_in_each_mode(self):
        # PgBouncer's meaning: an autocommit statement is a transaction in every mode; a session
        # is assigned its server once, transaction and statement mode once per transaction.
        # Statement mode refuses the transaction block, so it has only the three statements.
        for mode, xacts, assignments in (("session", 4, 1), ("transaction", 4, 4),
                                         ("statement", 3, 3)):
            with self.subTest(pool_mode=mode), self.pooler(pool_mode=mode) as pooler:
                with self.connect(pooler, autocommit=True) as conn:
                    for i in range(3):
                        conn.execute("SELECT %s", (i,))
                    if mode != "statement":
                        with conn.transaction():
                            conn.execute("SELECT 1")
                            conn.execute("SELECT 2")
                    with console(pooler) as admin:
                        st = one_row(admin, "STATS", self.db)
                self.assertEqual(st["total_server_assignment_count"], assignments, st)
                self.assertEqual(st["total_xact_count"], xacts, st)


class PauseResume(Case):
    def test_pause_holds_new_queries_until_resume(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler) as client:
                self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
                pause = Background(lambda: console_command(pooler, f"PAUSE {self.db}"))
                self.assertEqual(pause.join("PAUSE with no server in use"), "PAUSE")
                self.assertEqual(self.db_flags(admin), (1, 0))
                # Released servers are closed while paused.
                self.wait_no_backends("after PAUSE")

                query = Background(lambda: client.execute("SELECT 42").fetchone()[0])
                self.wait_cl_waiting(admin)
                self.assertFalse(query.done.is_set(),
                                 f"a query ran while the database was paused: {query.result!r} "
                                 f"{query.error!r}")
                self.assertEqual(self.db_flags(admin), (1, 0))

                self.assert_console_error(admin, f"PAUSE {self.db}", "55000")
                admin.execute(f"RESUME {self.db}")
                self.assertEqual(query.join("the query held by PAUSE, after RESUME"), 42)
                self.assertEqual(self.db_flags(admin), (0, 0))
                self.assert_console_error(admin, f"RESUME {self.db}", "55000")
                self.assertEqual(client.execute("SELECT 43").fetchone()[0], 43)

            self.assert_console_error(admin, "PAUSE no_such_db_xyz", "3D000")
            self.assert_console_error(admin, "RESUME no_such_db_xyz", "3D000")
            # PAUSE without a database pauses everything.
            admin.execute("PAUSE")
            self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["paused"], "yes")
            self.assert_console_error(admin, "PAUSE", "55000")
            admin.execute("RESUME")
            self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["paused"], "no")
            with self.connect(pooler) as client:
                self.assertEqual(client.execute("SELECT 44").fetchone()[0], 44)

    def test_pause_waits_for_an_open_transaction(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler, autocommit=False) as client:
                pid = client.execute("SELECT pg_backend_pid()").fetchone()[0]
                pause = Background(lambda: console_command(pooler, f"PAUSE {self.db}"))
                h.wait_until(lambda: self.db_flags(admin)[0] == 1, timeout=DEADLINE,
                             message="SHOW DATABASES to show the database paused")
                # The transaction goes on on its server...
                self.assertEqual(client.execute("SELECT pg_backend_pid()").fetchone()[0], pid)
                self.assertEqual(client.execute("SELECT 7").fetchone()[0], 7)
                # ... and PAUSE does not return while it holds the server.
                self.assertTrue(pause.still_running_after(1.0),
                                f"PAUSE returned while a client held a server in a transaction: "
                                f"{pause.result!r} {pause.error!r}")
                client.commit()
                self.assertEqual(pause.join("PAUSE after the transaction committed"), "PAUSE")
                self.wait_no_backends("after PAUSE completed")
                query = Background(lambda: client.execute("SELECT 8").fetchone()[0])
                self.wait_cl_waiting(admin)
                self.assertFalse(query.done.is_set(), "a query ran while paused")
                admin.execute(f"RESUME {self.db}")
                self.assertEqual(query.join("the query held by PAUSE"), 8)
                client.commit()


class DisableEnable(Case):
    def test_disable_refuses_new_logins_until_enable(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler) as existing:
                self.assertEqual(existing.execute("SELECT 1").fetchone()[0], 1)
                admin.execute(f"DISABLE {self.db}")
                self.assertEqual(self.db_flags(admin), (0, 1))

                # The SQLSTATE, off the wire: libpq does not report it for a refused login.
                with h.RawClient(pooler.port) as raw:
                    with self.assertRaises(h.PgError) as refused:
                        raw.login("scramuser", self.db, h.password("scramuser"))
                self.assertEqual(refused.exception.sqlstate, "55000", refused.exception.fields)
                self.assertEqual(refused.exception.fields.get("S"), "FATAL")
                with self.assertRaises(psycopg.OperationalError):
                    self.connect(pooler).close()
                proc = pooler.psql("SELECT 1", dbname=self.db)
                self.assertNotEqual(proc.returncode, 0, proc.stdout)

                # A client that was already connected is not affected.
                self.assertEqual(existing.execute("SELECT 2").fetchone()[0], 2)

                admin.execute(f"ENABLE {self.db}")
                self.assertEqual(self.db_flags(admin), (0, 0))
                with self.connect(pooler) as again:
                    self.assertEqual(again.execute("SELECT 3").fetchone()[0], 3)
                proc = pooler.psql("SELECT 4", dbname=self.db)
                self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "4"), proc.stderr)
                self.assertEqual(existing.execute("SELECT 5").fetchone()[0], 5)
            self.assert_console_error(admin, "DISABLE no_such_db_xyz", "3D000")
            self.assert_console_error(admin, "ENABLE no_such_db_xyz", "3D000")


class Kill(Case):
    def test_kill_disconnects_the_clients_and_leaves_the_database_paused(self):
        with self.pooler() as pooler, console(pooler) as admin:
            raw = h.RawClient(pooler.port, timeout=DEADLINE)
            self.addCleanup(raw.close)
            raw.login("scramuser", self.db, h.password("scramuser"))
            self.assertEqual(raw.query("SELECT 1"), [["1"]])
            idle = self.connect(pooler)
            self.addCleanup(idle.close)
            idle.execute("SELECT 1")
            in_txn = self.connect(pooler, autocommit=False)
            self.addCleanup(in_txn.close)
            in_txn.execute("SELECT 1")

            admin.execute(f"KILL {self.db}")

            self.assert_fatal_on_wire(raw, "57P01", "a raw client of the killed database")
            for name, conn in (("idle client", idle), ("client in a transaction", in_txn)):
                with self.assertRaises(psycopg.Error, msg=f"{name} survived KILL") as caught:
                    conn.execute("SELECT 2")
                self.assert_admin_shutdown(caught.exception, name)
            h.wait_until(lambda: not rows_for(admin, "CLIENTS", self.db), timeout=DEADLINE,
                         message="SHOW CLIENTS to drop the killed clients")
            self.wait_no_backends("after KILL")
            self.assertEqual(self.db_flags(admin)[0], 1, "KILL did not leave the database paused")

            def late_client():
                with self.connect(pooler) as c:
                    return c.execute("SELECT 9").fetchone()[0]

            late = Background(late_client)
            self.wait_cl_waiting(admin)
            self.assertFalse(late.done.is_set(),
                             f"a query ran on a killed database before RESUME: {late.result!r} "
                             f"{late.error!r}")
            admin.execute(f"RESUME {self.db}")
            self.assertEqual(late.join("the new client after RESUME"), 9)
            self.assertEqual(self.db_flags(admin), (0, 0))
            self.assert_console_error(admin, "KILL no_such_db_xyz", "3D000")

    def test_kill_without_a_database_spares_the_console(self):
        with self.pooler() as pooler, console(pooler) as admin:
            raw = h.RawClient(pooler.port, timeout=DEADLINE)
            self.addCleanup(raw.close)
            raw.login("scramuser", self.db, h.password("scramuser"))
            self.assertEqual(raw.query("SELECT 1"), [["1"]])
            admin.execute("KILL")
            self.assert_fatal_on_wire(raw, "57P01", "a raw client, after KILL of everything")
            # The console that asked is not a client of any database: it goes on.
            self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["paused"], "yes")
            self.wait_no_backends("after KILL")

            def late_client():
                with self.connect(pooler) as c:
                    return c.execute("SELECT 10").fetchone()[0]

            late = Background(late_client)
            self.wait_cl_waiting(admin)
            self.assertFalse(late.done.is_set(), "a query ran after KILL before RESUME")
            admin.execute("RESUME")
            self.assertEqual(late.join("the new client after RESUME"), 10)


class KillClient(Case):
    def test_kill_client_by_id(self):
        with self.pooler() as pooler, console(pooler) as admin:
            victim_app, raw_app, bystander_app = (h.unique_name(n) for n in
                                                  ("victim", "rawvictim", "bystander"))
            victim = self.connect(pooler, application_name=victim_app)
            self.addCleanup(victim.close)
            bystander = self.connect(pooler, application_name=bystander_app)
            self.addCleanup(bystander.close)
            raw = h.RawClient(pooler.port, timeout=DEADLINE)
            self.addCleanup(raw.close)
            raw.login("scramuser", self.db, h.password("scramuser"), application_name=raw_app)
            for conn in (victim, bystander):
                conn.execute("SELECT 1")

            def client_id(app):
                found = [r for r in h.show(admin, "CLIENTS")[1] if r["application_name"] == app]
                self.assertEqual(len(found), 1, f"SHOW CLIENTS rows for {app}: {found}")
                return found[0]["id"]

            victim_id, raw_id = client_id(victim_app), client_id(raw_app)
            bystander_id = client_id(bystander_app)
            self.assertEqual(len({victim_id, raw_id, bystander_id}), 3)

            admin.execute(f"KILL_CLIENT {victim_id}")
            with self.assertRaises(psycopg.Error, msg="the killed client's query ran") as caught:
                victim.execute("SELECT 2")
            self.assert_admin_shutdown(caught.exception, "the killed client")
            admin.execute(f"KILL_CLIENT {raw_id}")
            self.assert_fatal_on_wire(raw, "57P01", "the killed raw client")

            h.wait_until(lambda: not {victim_id, raw_id} & {r["id"] for r in
                                                             h.show(admin, "CLIENTS")[1]},
                         timeout=DEADLINE, message="the killed clients to leave SHOW CLIENTS")
            self.assertEqual(bystander.execute("SELECT 3").fetchone()[0], 3)
            self.assertIn(bystander_id, {r["id"] for r in h.show(admin, "CLIENTS")[1]})
            self.assertEqual(self.db_flags(admin), (0, 0), "KILL_CLIENT paused the database")

            self.assert_console_error(admin, "KILL_CLIENT 987654321", "42704")
            self.assert_console_error(admin, f"KILL_CLIENT {victim_id}", "42704")


class ReconnectWaitClose(Case):
    def test_reconnect_replaces_the_server_and_wait_close_waits_for_it(self):
        with self.pooler(pool_mode="session", default_pool_size=1) as pooler, \
                console(pooler) as admin:
            holder = self.connect(pooler)
            self.addCleanup(holder.close)
            pid1 = holder.execute("SELECT pg_backend_pid()").fetchone()[0]

            admin.execute(f"RECONNECT {self.db}")
            servers = rows_for(admin, "SERVERS", self.db)
            self.assertEqual([(s["remote_pid"], s["close_needed"]) for s in servers],
                             [(pid1, 1)], servers)
            # A session in use keeps its server until the client leaves...
            self.assertEqual(holder.execute("SELECT pg_backend_pid()").fetchone()[0], pid1)
            wait_close = Background(lambda: console_command(pooler, f"WAIT_CLOSE {self.db}"))
            self.assertTrue(wait_close.still_running_after(1.0),
                            "WAIT_CLOSE returned while the server marked by RECONNECT was "
                            f"still open: {wait_close.result!r} {wait_close.error!r}")
            # ... and is closed when released.
            holder.close()
            self.assertEqual(wait_close.join("WAIT_CLOSE after the session ended"), "WAIT_CLOSE")
            self.wait_backend_gone(pid1, "the server marked by RECONNECT, after WAIT_CLOSE")
            with self.connect(pooler) as client:
                pid2 = client.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.assertNotEqual(pid2, pid1, "the new client got the server RECONNECT marked")

            # An idle server is closed at once.
            h.wait_until(lambda: [s["state"] for s in rows_for(admin, "SERVERS", self.db)]
                         == ["idle"], timeout=DEADLINE, message="the server to be idle")
            admin.execute(f"RECONNECT {self.db}")
            admin.execute(f"WAIT_CLOSE {self.db}")
            self.wait_backend_gone(pid2, "the idle server, after RECONNECT + WAIT_CLOSE")
            with self.connect(pooler) as client:
                pid3 = client.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.assertNotIn(pid3, (pid1, pid2))
            # Nothing marked: WAIT_CLOSE returns at once, on one database or all.
            admin.execute(f"WAIT_CLOSE {self.db}")
            admin.execute("WAIT_CLOSE")
            self.assert_console_error(admin, "RECONNECT no_such_db_xyz", "3D000")
            self.assert_console_error(admin, "WAIT_CLOSE no_such_db_xyz", "3D000")

    def test_reconnect_in_transaction_mode_waits_for_the_transaction(self):
        with self.pooler(default_pool_size=1) as pooler, console(pooler) as admin:
            with self.connect(pooler, autocommit=False) as client:
                pid1 = client.execute("SELECT pg_backend_pid()").fetchone()[0]
                admin.execute(f"RECONNECT {self.db}")
                wait_close = Background(lambda: console_command(pooler,
                                                                f"WAIT_CLOSE {self.db}"))
                # The open transaction keeps its server ...
                self.assertEqual(client.execute("SELECT pg_backend_pid()").fetchone()[0], pid1)
                self.assertTrue(wait_close.still_running_after(1.0),
                                "WAIT_CLOSE returned while the transaction held the marked "
                                "server")
                client.commit()
                # ... which is closed when the transaction ends: the next one gets another.
                wait_close.join("WAIT_CLOSE after COMMIT")
                self.wait_backend_gone(pid1, "the server marked by RECONNECT, after COMMIT")
                pid2 = client.execute("SELECT pg_backend_pid()").fetchone()[0]
                client.commit()
                self.assertNotEqual(pid2, pid1)


class SetAndAccess(Case):
    def test_set_changes_live_settings_and_rejects_bad_ones(self):
        with self.pooler(default_pool_size=2) as pooler, console(pooler) as admin:
            with self.connect(pooler) as c:
                c.execute("SELECT 1")  # the pool exists before the change
            admin.execute("SET default_pool_size = 5")
            config = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
            self.assertEqual(config["default_pool_size"], "5")
            self.assertEqual(one_row(admin, "DATABASES", self.db)["pool_size"], 5)

            # The existing pool grows: five clients hold five servers in open transactions.
            holders = [self.connect(pooler, autocommit=False) for _ in range(5)]
            try:
                started = [Background(lambda c=c: c.execute("SELECT 1").fetchone()[0])
                           for c in holders]
                for i, b in enumerate(started):
                    self.assertEqual(b.join(f"transaction {i} of 5 on a pool of 5"), 1)
                pool = one_row(admin, "POOLS", self.db)
                self.assertEqual((pool["sv_active"], pool["cl_waiting"]), (5, 0), pool)
            finally:
                for c in holders:
                    c.close()

            self.assert_console_error(admin, "SET no_such_setting = 1", "42704")
            self.assert_console_error(admin, "SET listen_port = 1", "55P02")
            self.assert_console_error(admin, "SET default_pool_size = lots", "22023")
            config = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
            self.assertEqual(config["default_pool_size"], "5")
            self.assertEqual(config["listen_port"], str(pooler.port))

    def test_stats_user_may_not_run_controls(self):
        with self.pooler() as pooler, console(pooler) as admin, \
                console(pooler, "md5user") as stats:
            with self.connect(pooler) as client:
                client.execute("SELECT 1")
                client_id = next(r["id"] for r in h.show(admin, "CLIENTS")[1]
                                 if r["database"] == self.db)
                for sql in (f"PAUSE {self.db}", "PAUSE", f"RESUME {self.db}",
                            "SET default_pool_size = 9", f"KILL {self.db}", "KILL",
                            f"KILL_CLIENT {client_id}", f"DISABLE {self.db}",
                            f"RECONNECT {self.db}", f"WAIT_CLOSE {self.db}"):
                    with self.subTest(sql=sql):
                        self.assert_console_error(stats, sql, "42501")
                # Nothing happened.
                self.assertEqual(self.db_flags(admin), (0, 0))
                config = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
                self.assertEqual(config["default_pool_size"], "2")
                self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                # The stats user may still look.
                self.assertTrue(h.show(stats, "STATS")[1])


class PauseEdgeCases(Case):
    # A PAUSE still waiting when RESUME arrives must be answered, not left hanging until the
    # idle servers time out.
    def test_resume_answers_a_pending_pause(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler, autocommit=False) as client:
                client.execute("SELECT 1")
                pending = Background(lambda: console_command(pooler, f"PAUSE {self.db}"))
                h.wait_until(lambda: self.db_flags(admin)[0] == 1, timeout=DEADLINE,
                             message="SHOW DATABASES to show the database paused")
                admin.execute(f"RESUME {self.db}")
                client.commit()
                self.assertEqual(self.db_flags(admin), (0, 0))
                self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
                client.commit()
                if not pending.done.wait(DEADLINE):
                    self.fail(f"the PAUSE pending when RESUME arrived was never answered "
                              f"({DEADLINE} s after RESUME and COMMIT)")
            # A fresh PAUSE after all that behaves normally.
            admin.execute(f"PAUSE {self.db}")
            admin.execute(f"RESUME {self.db}")

    # Under a global PAUSE, `RESUME <db>` must not report success while changing nothing.
    def test_resume_of_one_database_under_a_global_pause(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler) as client:
                client.execute("SELECT 1")
                admin.execute("PAUSE")
                try:
                    admin.execute(f"RESUME {self.db}")
                except psycopg.Error as e:
                    self.assertEqual(e.sqlstate, "55000", repr(e))
                    resumed = False
                else:
                    resumed = True
                if resumed:
                    self.assertEqual(self.db_flags(admin)[0], 0,
                                     f"RESUME {self.db} succeeded but SHOW DATABASES still shows "
                                     "it paused")
                    query = Background(lambda: client.execute("SELECT 3").fetchone()[0])
                    try:
                        self.assertEqual(query.join(f"a query after RESUME {self.db}"), 3)
                    finally:
                        admin.execute("RESUME")
                        query.done.wait(DEADLINE)
                else:
                    admin.execute("RESUME")
                    self.assertEqual(client.execute("SELECT 3").fetchone()[0], 3)


class Suspend(Case):
    def query_on_new_client(self, pooler, value):
        with self.connect(pooler) as late:
            return late.execute(f"SELECT {value}").fetchone()[0]

    def assert_held(self, background, what):
        self.assertTrue(background.still_running_after(1.0),
                        f"{what} went through while suspended: {background.result!r} "
                        f"{background.error!r}")

    def test_suspend_holds_clients_and_logins_until_resume(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler) as client:
                client.execute("SELECT 1")
                self.assertEqual(admin.execute("SUSPEND").statusmessage, "SUSPEND")
                state = dict(admin.execute("SHOW STATE").fetchall())
                self.assertEqual((state["suspended"], state["active"]), ("yes", "no"))
                self.assert_console_error(admin, "SUSPEND", "55000")
                self.assert_console_error(admin, f"PAUSE {self.db}", "55000")
                self.assert_console_error(admin, f"RESUME {self.db}", "55000")

                query = Background(lambda: client.execute("SELECT 42").fetchone()[0])
                login = Background(lambda: self.query_on_new_client(pooler, 43))
                self.assert_held(query, "a connected client's query")
                self.assert_held(login, "a new client's login")

                admin.execute("RESUME")
                self.assertEqual(query.join("the query held by SUSPEND, after RESUME"), 42)
                self.assertEqual(login.join("the login held by SUSPEND, after RESUME"), 43)
                self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["suspended"], "no")
                self.assert_console_error(admin, "RESUME", "55000")

    def test_sigusr2_ends_a_suspend(self):
        with self.pooler() as pooler, console(pooler) as admin:
            with self.connect(pooler) as client:
                client.execute("SELECT 1")
                admin.execute("SUSPEND")
                query = Background(lambda: client.execute("SELECT 7").fetchone()[0])
                self.assert_held(query, "a query")
                pooler.send_signal(signal.SIGUSR2)
                self.assertEqual(query.join("the query held by SUSPEND, after SIGUSR2"), 7)
                self.assertEqual(dict(admin.execute("SHOW STATE").fetchall())["suspended"], "no")


if __name__ == "__main__":
    h.main()
