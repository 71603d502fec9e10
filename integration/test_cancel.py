#!/usr/bin/python3
"""Query cancellation through the pooler: libpq's cancel (the pooler's own BackendKeyData) stops
a running query with 57014 quickly; a CancelRequest with a wrong key or pid changes nothing; a
cancel never stops another client's query, because a server with a cancel in flight serves nobody
else until PostgreSQL has dealt with it; a client that vanishes mid-query has its query
cancelled, and its server is rolled back and reused."""

import random
import signal
import subprocess
import sys
import threading
import time
import unittest

import psycopg

import harness as h
import isolated_db
from harness import Pooler, RawClient
from isolated_db import active_with, db_backends, db_line
from tcp_proxy import CancelDelayProxy
from test_metrics import MetricsPooler

CANCEL_WITHIN = 2.0  # what the issue asks
CANCEL_LIMIT = 10.0  # what the test enforces: generous for loaded CI machines


def running(marker):
    """pids of active backends whose query carries the marker."""
    with h.superuser_conn("postgres") as c:
        return [r[0] for r in c.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s "
            "AND pid <> pg_backend_pid()", (f"%{marker}%",)).fetchall()]


class Cancel(unittest.TestCase):
    def test_libpq_cancel_stops_pg_sleep(self):
        for mode in ("session", "transaction"):
            with self.subTest(pool_mode=mode), Pooler({"pool_mode": mode}) as pooler:
                marker = h.unique_name("cancel_me")
                with pooler.connect("scramuser", prepare_threshold=None) as conn:
                    sent = {}

                    def cancel_when_running():
                        try:
                            h.wait_until(lambda: running(marker), timeout=20,
                                         message="pg_sleep to start")
                            sent["at"] = time.monotonic()
                            conn.cancel()
                        except Exception as e:  # noqa: BLE001 - asserted below
                            sent["error"] = e

                    thread = threading.Thread(target=cancel_when_running)
                    thread.start()
                    start = time.monotonic()
                    with self.assertRaises(psycopg.errors.QueryCanceled) as caught:
                        conn.execute(f"SELECT pg_sleep(30) /* {marker} */")
                    done = time.monotonic()
                    thread.join(timeout=30)
                    self.assertNotIn("error", sent, sent.get("error"))
                    self.assertEqual(caught.exception.sqlstate, "57014")
                    elapsed = done - sent["at"]
                    print(f"\n  {mode}: cancel answered {elapsed:.3f} s after it was sent "
                          f"(issue asks < {CANCEL_WITHIN} s)", file=sys.stderr)
                    self.assertLess(elapsed, CANCEL_LIMIT,
                                    f"cancel took {elapsed:.1f} s; the issue asks for "
                                    f"{CANCEL_WITHIN} s")
                    self.assertLess(done - start, 29, "the query ran to its end")
                    # The connection is usable afterwards.
                    self.assertEqual(conn.execute("SELECT 7").fetchone()[0], 7)
                self.assertEqual(running(marker), [])

    def raw_session(self, pooler, seconds, marker):
        client = RawClient(pooler.port, timeout=20)
        client.login("scramuser", "itest", h.password("scramuser"))
        self.assertIsNotNone(client.backend_key, "no BackendKeyData from the pooler")
        client.send_query(f"SELECT pg_sleep({seconds}) /* {marker} */")
        h.wait_until(lambda: running(marker), timeout=20, message="pg_sleep to start")
        return client

    def test_wrong_key_changes_nothing(self):
        with Pooler({"pool_mode": "session"}) as pooler:
            marker = h.unique_name("keep_running")
            with self.raw_session(pooler, 4, marker) as client:
                pid, key = client.backend_key
                h.send_cancel(pooler.port, pid, key ^ 0x5A5A5A5A)
                h.send_cancel(pooler.port, pid ^ 0x1234, key)
                h.send_cancel(pooler.port, 0, 0)
                time.sleep(1.5)
                self.assertEqual(len(running(marker)), 1, "the query stopped after a bad cancel")
                rows, error = client.read_result()
                self.assertIsNone(error, f"a cancel with a wrong key reached the query: {error}")
                self.assertEqual(rows, [[""]])
                self.assertEqual(client.query("SELECT 1"), [["1"]])
            pooler.assert_healthy(self)

    def test_raw_cancel_with_the_right_key(self):
        # The control for the case above: the same packet with the right key does cancel.
        with Pooler({"pool_mode": "transaction"}) as pooler:
            marker = h.unique_name("raw_cancel")
            with self.raw_session(pooler, 30, marker) as client:
                pid, key = client.backend_key
                start = time.monotonic()
                h.send_cancel(pooler.port, pid, key)
                rows, error = client.read_result()
                self.assertIsNotNone(error, "the query was not cancelled")
                self.assertEqual(error.get("C"), "57014", error)
                self.assertLess(time.monotonic() - start, CANCEL_LIMIT)
                self.assertEqual(client.query("SELECT 1"), [["1"]])


def show_pools(pooler, db):
    """SHOW POOLS' row for db as {column: value}, over a fresh console connection."""
    with pooler.connect("scramuser", dbname="pgbouncer") as admin:
        return next((r for r in h.show(admin, "POOLS")[1] if r["database"] == db), None)


class CancelSafety(isolated_db.Case):
    db_prefix = "cancel"

    def settings(self, **extra):
        return {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 30,
                "admin_users": "scramuser", **extra}

    def test_a_late_cancel_never_stops_the_next_clients_query(self):
        # One server, two clients taking turns on it. A's cancel is timed to land around the end
        # of A's short query; B's query is queued behind A's and runs on the same server next.
        with Pooler(self.settings(), databases={self.db: db_line(self.db)}) as pooler:
            a, b = self.login(pooler), self.login(pooler)
            rng = random.Random(7)
            cancelled_a = 0
            for round_no in range(40):
                a.send_query("SELECT pg_sleep(0.02)")
                b.send_query("SELECT pg_sleep(0.03), 'b'")
                time.sleep(rng.uniform(0.010, 0.026))
                h.send_cancel(pooler.port, *a.backend_key)
                _, error_a = a.read_result()
                rows_b, error_b = b.read_result()
                if error_a is not None:
                    self.assertEqual(error_a.get("C"), "57014", error_a)
                    cancelled_a += 1
                self.assertIsNone(error_b, f"round {round_no}: A's cancel stopped B's query")
                self.assertEqual(rows_b, [["", "b"]])
            print(f"\n  A's query was cancelled in {cancelled_a} of 40 rounds; B's never",
                  file=sys.stderr)
            self.assertGreater(cancelled_a, 0, "no cancel landed: the test proved nothing")
            a.close()
            b.close()

    def test_a_server_waits_for_its_cancel_before_serving_anyone_else(self):
        # PostgreSQL's end of the cancel connection is held open 1.5 s after it has signalled
        # the backend: meanwhile SHOW POOLS shows the cancel in flight and the server held.
        with CancelDelayProxy(h.pg_port(), hold=1.5) as proxy, \
                Pooler(self.settings(),
                       databases={self.db: db_line(self.db, port=proxy.port)}) as pooler:
            marker = h.unique_name("held")
            a, b = self.login(pooler), self.login(pooler)
            a.send_query(f"SELECT pg_sleep(30) /* {marker} */")
            h.wait_until(lambda: active_with(self.db, marker), timeout=10,
                         message="A's query to run")
            b.send_query("SELECT 'b'")
            h.wait_until(lambda: show_pools(pooler, self.db)["cl_waiting"] == 1, timeout=10,
                         message="B to queue")
            done = {}

            def cancel():
                h.send_cancel(pooler.port, *a.backend_key)
                done["at"] = time.monotonic()

            canceller = threading.Thread(target=cancel)
            canceller.start()
            _, error_a = a.read_result()
            self.assertEqual(error_a.get("C"), "57014", error_a)
            row = h.wait_until(lambda: (lambda r: r if r["sv_being_canceled"] == 1 else None)(
                show_pools(pooler, self.db)), timeout=5, message="the server held for its cancel")
            self.assertNotIn("at", done, "the CancelRequest connection closed before PostgreSQL's")
            self.assertEqual(row["cl_active_cancel_req"], 1, row)
            self.assertEqual(row["sv_active_cancel"], 1, row)
            self.assertEqual(row["cl_waiting"], 1, row)
            self.assertEqual(row["sv_active"] + row["sv_idle"], 0, row)
            rows_b, error_b = b.read_result()
            served_b = time.monotonic()
            canceller.join(timeout=10)
            self.assertIsNone(error_b)
            self.assertEqual(rows_b, [["b"]])
            self.assertLessEqual(done["at"], served_b + 0.05,
                                 "B was served before the cancel had finished")
            row = show_pools(pooler, self.db)
            for column in ("cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active_cancel",
                           "sv_being_canceled"):
                self.assertEqual(row[column], 0, row)
            self.assertEqual(proxy.cancels, 1)
            a.close()
            b.close()


class AbandonedRequests(isolated_db.Case):
    db_prefix = "abandon"

    def test_client_killed_mid_query_leaves_nothing_running(self):
        for mode in ("session", "transaction"):
            with self.subTest(pool_mode=mode), MetricsPooler(
                    {"pool_mode": mode, "default_pool_size": 1, "query_wait_timeout": 30},
                    databases={self.db: db_line(self.db)}) as pooler:
                table = self.make_table()
                marker = h.unique_name("abandoned")
                env = pooler.client_env("scramuser", None)
                psql = subprocess.Popen(
                    ["psql", "-X", "-h", h.HOST, "-p", str(pooler.port), "-U", "scramuser",
                     "-d", self.db, "-c", f"BEGIN; INSERT INTO {table} VALUES (1); "
                                          f"SELECT pg_sleep(30) /* {marker} */"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    backend = h.wait_until(lambda: active_with(self.db, marker), timeout=10,
                                           message="the query to run")[0][0]
                    psql.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    h.wait_until(lambda: not active_with(self.db, marker), timeout=10,
                                 message="the abandoned query to stop on PostgreSQL")
                    print(f"\n  {mode}: the abandoned query stopped "
                          f"{time.monotonic() - killed:.3f} s after its client was killed "
                          f"(issue asks < 2 s)", file=sys.stderr)
                finally:
                    psql.kill()
                    psql.wait()
                # Rolled back, idle, and the same server serves the next client.
                h.wait_until(lambda: [b for b in db_backends(self.db) if b[0] == backend
                                      and b[2] == "idle"], timeout=10,
                             message="the server to be idle again")
                self.assertEqual(self.count_rows(table), 0)
                with self.connect(pooler) as conn:
                    row = conn.execute("SELECT pg_backend_pid(), "
                                       "txid_current_if_assigned()").fetchone()
                self.assertEqual(row, (backend, None), "the server was not reused clean")
                # Published once per alert_interval: wait for the sample after the kill.
                metrics = h.wait_until(
                    lambda: (lambda m: m if m.get("pooler_abandoned_requests_cancelled_total")
                             else None)(pooler.metrics()), timeout=10,
                    message="the abandoned request in the metrics")
                self.assertEqual(metrics.get("pooler_abandoned_requests_cancelled_total"), 1)
                self.assertEqual(metrics.get("pooler_server_connections_closed_total",
                                             cause="client_gone"), 0)


if __name__ == "__main__":
    h.main()
