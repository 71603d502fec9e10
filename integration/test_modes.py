#!/usr/bin/python3
"""Pool modes: session mode keeps a client's session state and resets it before the next client;
transaction mode shares servers between transactions without leaking one client's transaction or
SET LOCAL to another; statement mode refuses transaction blocks."""

import threading
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient


def connect(pooler, **kwargs):
    # Automatic server-side prepares are not what these cases are about.
    return pooler.connect("scramuser", prepare_threshold=None, **kwargs)


def one(conn, sql, params=None):
    return conn.execute(sql, params).fetchone()[0]


class SessionMode(unittest.TestCase):
    def test_set_state_survives_across_queries_with_other_clients_active(self):
        with Pooler({"pool_mode": "session", "default_pool_size": 4}) as pooler:
            with connect(pooler) as a, connect(pooler) as b:
                a.execute("SET search_path = pg_catalog, public")
                a.execute("SET application_name = 'session-a'")
                a.execute("SET pooler.marker = 'a-marker'")
                pid_a = one(a, "SELECT pg_backend_pid()")
                b.execute("SET application_name = 'session-b'")
                for _ in range(5):
                    b.execute("SELECT 1")
                    self.assertEqual(one(a, "SHOW search_path"), "pg_catalog, public")
                    self.assertEqual(one(a, "SHOW application_name"), "session-a")
                    self.assertEqual(one(a, "SELECT current_setting('pooler.marker')"),
                                     "a-marker")
                    self.assertEqual(one(a, "SELECT pg_backend_pid()"), pid_a)
                self.assertEqual(one(b, "SHOW application_name"), "session-b")
                self.assertNotEqual(one(b, "SELECT pg_backend_pid()"), pid_a)

    def test_next_client_on_the_same_server_starts_clean(self):
        with Pooler({"pool_mode": "session", "default_pool_size": 1}) as pooler:
            with connect(pooler) as a:
                pid_a = one(a, "SELECT pg_backend_pid()")
                a.execute("SET pooler.marker = 'left-behind'")
                a.execute("SET statement_timeout = 4321")
            with connect(pooler) as b:
                # One server in the pool: b gets a's server, after the reset query.
                self.assertEqual(one(b, "SELECT pg_backend_pid()"), pid_a)
                self.assertIn(one(b, "SELECT current_setting('pooler.marker', true)"),
                              (None, ""))
                self.assertEqual(one(b, "SHOW statement_timeout"), "0")


class FreshPool(unittest.TestCase):
    def test_startup_parameters_reach_the_server_on_the_first_query(self):
        # The first client of a fresh pool: its server logs in while the client waits, then
        # gets the client's application_name before the client's first query runs. Repeated,
        # as the query racing that set-up is the point.
        for mode in ("session", "transaction"):
            for attempt in range(4):
                with self.subTest(pool_mode=mode, attempt=attempt), \
                        Pooler({"pool_mode": mode}) as pooler:
                    name = h.unique_name("app")
                    with RawClient(pooler.port) as client:
                        client.login("scramuser", "itest", h.password("scramuser"),
                                     application_name=name)
                        try:
                            rows = client.query("SHOW application_name")
                        except TimeoutError:
                            self.fail("the first query of a fresh pool got no answer")
                        self.assertEqual(rows, [[name]])


class TransactionMode(unittest.TestCase):
    # query_wait_timeout turns a pooler that never frees the server into an error, not a hang.
    settings = {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 15}

    def test_clients_share_one_server_between_transactions(self):
        with Pooler(self.settings) as pooler:
            with connect(pooler) as a, connect(pooler) as b:
                # In session mode b would wait for a forever; here both run on one server.
                pids = {one(a, "SELECT pg_backend_pid()"), one(b, "SELECT pg_backend_pid()"),
                        one(a, "SELECT pg_backend_pid()")}
                self.assertEqual(len(pids), 1)

    def test_set_local_does_not_leak_to_the_next_client(self):
        with Pooler(self.settings) as pooler:
            with connect(pooler) as a, connect(pooler) as b:
                with a.transaction():
                    a.execute("SET LOCAL statement_timeout = 1234")
                    self.assertEqual(one(a, "SHOW statement_timeout"), "1234ms")
                    pid_a = one(a, "SELECT pg_backend_pid()")
                self.assertEqual(one(b, "SELECT pg_backend_pid()"), pid_a)
                self.assertEqual(one(b, "SHOW statement_timeout"), "0")

    def test_open_transaction_is_not_visible_to_another_client(self):
        table = h.unique_name("modes_txn")
        with h.direct_conn() as c:
            c.execute(f"CREATE TABLE {table} (id int)")
        try:
            with Pooler(self.settings) as pooler:
                with connect(pooler) as a, connect(pooler) as b:
                    a.execute("BEGIN")
                    a.execute(f"INSERT INTO {table} VALUES (1)")
                    pid_a = one(a, "SELECT pg_backend_pid()")
                    result = {}

                    def run_b():
                        try:
                            start = time.monotonic()
                            result["row"] = b.execute(
                                f"SELECT (SELECT count(*) FROM {table}), now() = "
                                "statement_timestamp(), txid_current_if_assigned(), "
                                "pg_backend_pid()").fetchone()
                            result["waited"] = time.monotonic() - start
                        except Exception as e:  # noqa: BLE001 - asserted below
                            result["error"] = e

                    thread = threading.Thread(target=run_b)
                    thread.start()
                    time.sleep(1.0)
                    # The only server is inside a's transaction: b must still be waiting.
                    self.assertTrue(thread.is_alive(),
                                    f"b ran during a's open transaction: {result}")
                    a.execute("ROLLBACK")
                    thread.join(timeout=20)
                    self.assertFalse(thread.is_alive(), "b never got the server")
                    self.assertNotIn("error", result)
                    count, fresh_txn, xid, pid_b = result["row"]
                    self.assertEqual(count, 0, "b saw a's uncommitted row")
                    self.assertTrue(fresh_txn, "b's query ran inside an older transaction")
                    self.assertIsNone(xid, "b ran inside a transaction with an xid (a's)")
                    self.assertEqual(pid_b, pid_a)
                    self.assertGreater(result["waited"], 0.9)
        finally:
            with h.direct_conn() as c:
                c.execute(f"DROP TABLE IF EXISTS {table}")


class StatementMode(unittest.TestCase):
    def test_transaction_blocks_are_refused_single_statements_work(self):
        with Pooler({"pool_mode": "statement", "default_pool_size": 1}) as pooler:
            with RawClient(pooler.port) as raw:
                raw.login("scramuser", "itest", h.password("scramuser"))
                server_pid = int(raw.query("SELECT pg_backend_pid()")[0][0])
                raw.send_query("BEGIN")
                seen = []
                try:
                    while True:
                        seen.append(raw.read())
                except ConnectionError:
                    pass
                kinds = [kind for kind, _ in seen]
                self.assertIn(b"E", kinds, f"no ErrorResponse for BEGIN: {seen}")
                self.assertNotIn((b"Z", b"T"), seen,
                                 f"the client was told it is inside a transaction: {seen}")
            with connect(pooler) as a:
                self.assertEqual(one(a, "SELECT %s::int * 2", (21,)), 42)
                with self.assertRaises(psycopg.Error, msg="BEGIN succeeded") as caught:
                    a.execute("BEGIN")
                text = str(caught.exception).lower()
                self.assertIn("transaction blocks not allowed", text)
                self.assertIn("statement pooling mode", text)
            # Nothing was left open on the server, and single statements keep working.
            h.wait_until(lambda: not [b for b in h.backends(state_filter="idle in transaction")
                                      if b[0] == server_pid],
                         timeout=5, message="the refused transaction to end on the server")
            with connect(pooler) as b, connect(pooler) as c:
                for i in range(3):
                    self.assertEqual(one(b, "SELECT %s::int", (i,)), i)
                    self.assertEqual(one(c, "SELECT %s::int", (i,)), i)
            # psql sends each -c as its own query: BEGIN first, then SELECT.
            proc = pooler.psql("SELECT 1", args=("-c", "BEGIN"))
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("statement pooling mode", proc.stderr)


if __name__ == "__main__":
    h.main()
