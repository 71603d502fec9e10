#!/usr/bin/python3
"""Limits and abandoned clients: max_client_conn refuses with an ErrorResponse (53300), a client
waiting longer than query_wait_timeout gets an error, and a client that dies inside a transaction
leaves nothing open or committed on the server."""

import os
import signal
import socket
import struct
import subprocess
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient


def connect_retrying(pooler, attempts=20):
    """The harness's start-up probe may still count as a client for a moment."""
    for attempt in range(attempts):
        try:
            return pooler.connect("scramuser", prepare_threshold=None)
        except psycopg.OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def idle_in_transaction(table):
    """Backends whose open transaction last ran a statement on the table."""
    with h.superuser_conn("postgres") as c:
        return c.execute(
            "SELECT pid FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%' "
            "AND query LIKE %s", (f"%{table}%",)).fetchall()


class MaxClientConn(unittest.TestCase):
    def test_third_client_gets_53300(self):
        with Pooler({"max_client_conn": 2}) as pooler:
            with connect_retrying(pooler) as first, connect_retrying(pooler) as second:
                with RawClient(pooler.port) as third:
                    try:
                        third.send(h.startup_packet("scramuser", "itest"))
                    except OSError:
                        pass  # it may answer and close before reading the startup packet
                    kind, payload = third.read()  # EOF here (dropped socket) fails the test
                    self.assertEqual(kind, b"E", f"expected an ErrorResponse, got {kind!r}")
                    fields = h.error_fields(payload)
                    self.assertEqual(fields.get("C"), "53300", fields)
                    self.assertIn("max_client_conn", fields.get("M", ""))
                proc = pooler.psql("SELECT 1")
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn("max_client_conn", proc.stderr)
                # The first two are unharmed.
                self.assertEqual(first.execute("SELECT 1").fetchone()[0], 1)
                self.assertEqual(second.execute("SELECT 2").fetchone()[0], 2)
                first.close()
                # A slot freed is a slot for the next client.
                with connect_retrying(pooler) as again:
                    self.assertEqual(again.execute("SELECT 3").fetchone()[0], 3)


class QueryWaitTimeout(unittest.TestCase):
    def test_waiting_client_gets_an_error(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 1}
        with Pooler(settings) as pooler:
            with pooler.connect("scramuser", prepare_threshold=None) as holder:
                holder.execute("BEGIN")
                holder.execute("SELECT 1")  # the only server is now inside this transaction
                with pooler.connect("scramuser", prepare_threshold=None) as waiter:
                    start = time.monotonic()
                    with self.assertRaises(psycopg.Error) as caught:
                        waiter.execute("SELECT 2")
                    waited = time.monotonic() - start
                self.assertIn("query_wait_timeout", str(caught.exception),
                              f"sqlstate {getattr(caught.exception, 'sqlstate', None)}")
                self.assertGreater(waited, 0.5, "it did not wait for the server at all")
                self.assertLess(waited, 15, f"the error came after {waited:.1f} s")
                # The holder's transaction is untouched.
                self.assertEqual(holder.execute("SELECT 5").fetchone()[0], 5)
                holder.execute("COMMIT")
            pooler.assert_healthy(self)


class AbandonedTransaction(unittest.TestCase):
    settings = {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 15}

    def setUp(self):
        self.table = h.unique_name("abandoned")
        with h.direct_conn() as c:
            c.execute(f"CREATE TABLE {self.table} (id int)")
            c.execute(f"GRANT ALL ON {self.table} TO PUBLIC")

    def tearDown(self):
        with h.direct_conn() as c:
            c.execute(f"DROP TABLE IF EXISTS {self.table}")

    def assert_rolled_back(self, pooler):
        deadline = time.monotonic() + 5
        while idle_in_transaction(self.table) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(idle_in_transaction(self.table), [],
                         "the dead client's transaction is still open on the server")
        with h.direct_conn() as c:
            self.assertEqual(c.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0], 0,
                             "the dead client's insert was committed")
        # The pool's only server (or its replacement) serves the next client outside any
        # transaction.
        with pooler.connect("scramuser", prepare_threshold=None) as conn:
            row = conn.execute(f"SELECT txid_current_if_assigned(), "
                               f"(SELECT count(*) FROM {self.table})").fetchone()
        self.assertEqual(row, (None, 0))

    def test_psql_killed_mid_transaction(self):
        with Pooler(self.settings) as pooler:
            env = pooler.client_env("scramuser", None)
            proc = subprocess.Popen(
                ["psql", "-X", "-q", "-h", h.HOST, "-p", str(pooler.port), "-U", "scramuser",
                 "-d", "itest"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env)
            try:
                proc.stdin.write(f"BEGIN;\nINSERT INTO {self.table} VALUES (1);\n".encode())
                proc.stdin.flush()
                h.wait_until(lambda: idle_in_transaction(self.table), timeout=20,
                             message="psql's transaction to be open on the server")
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                proc.kill()
                proc.wait(timeout=10)
                proc.stdin.close()
            self.assert_rolled_back(pooler)

    def test_socket_reset_mid_transaction(self):
        with Pooler(self.settings) as pooler:
            client = RawClient(pooler.port)
            client.login("scramuser", "itest", h.password("scramuser"))
            client.query("BEGIN")
            client.query(f"INSERT INTO {self.table} VALUES (1)")
            self.assertEqual(client.transaction_status, b"T")
            self.assertTrue(idle_in_transaction(self.table))
            # Close with RST rather than FIN: no Terminate, no goodbye.
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
            self.assert_rolled_back(pooler)


if __name__ == "__main__":
    h.main()
