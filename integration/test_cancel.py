#!/usr/bin/python3
"""Query cancellation through the pooler: libpq's cancel (the pooler's own BackendKeyData) stops
a running query with 57014 quickly; a CancelRequest with a wrong key or pid changes nothing."""

import sys
import threading
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient

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


if __name__ == "__main__":
    h.main()
