#!/usr/bin/python3
"""Peering, as PgBouncer 1.19+ has it: two poolers, each with its peer_id and a [peers] section
naming both. Behind a load balancer a CancelRequest lands on either; one that lands on the
wrong pooler is forwarded to the one whose id its key carries, and the query stops there (57014)
within 2 s, in transaction and in session mode. A forged key does nothing on either; a key for an
unknown peer, or one whose hops are spent, is dropped with a log line. SHOW PEERS and SHOW
PEER_POOLS list the peers, and the metrics count what was forwarded, received and dropped."""

import socket
import struct
import sys
import threading
import time
import unittest

import harness as h
from harness import Pooler, RawClient
from prometheus_text import parse_metrics

ADMIN = "scramuser"
CANCEL_DEADLINE = 2.0  # s; the bound for a cancel through the wrong replica


def key_peer(pid):
    """The peer id in a cancel key's pid, as PgBouncer reads bytes 2 and 3 of the key."""
    b = struct.pack("!i", pid)
    return b[1] | (b[2] << 8)


def with_peer(pid, peer_id):
    b = bytearray(struct.pack("!i", pid))
    b[1], b[2] = peer_id & 0xFF, peer_id >> 8
    return struct.unpack("!i", bytes(b))[0]


class Peering(unittest.TestCase):
    def setUp(self):
        h.arm_case_alarm(self, 120)

    def peers(self, mode="transaction"):
        """Two poolers peered with each other: (A with peer_id 1, B with peer_id 2)."""
        ports = [h.free_port(), h.free_port()]
        metrics = [h.free_port(), h.free_port()]
        peers = "\n[peers]\n" + "".join(
            f"{i + 1} = host={h.HOST} port={port}\n" for i, port in enumerate(ports))
        poolers = [Pooler({"pool_mode": mode, "admin_users": ADMIN, "listen_port": ports[i],
                           "peer_id": i + 1, "metrics_port": metrics[i],
                           "query_wait_timeout": 30}, extra_ini=peers) for i in range(2)]
        for p, port in zip(poolers, metrics):
            p.metrics_port = port
        return poolers

    def wait_metric(self, pooler, expected, name, **labels):
        """Waits for the metric to reach `expected` (the endpoint serves the last sample, taken
        every second or so)."""
        h.wait_until(lambda: self.metric(pooler, name, **labels) >= expected, timeout=10,
                     message=f"{name}{labels} to reach {expected}")
        self.assertEqual(self.metric(pooler, name, **labels), expected, name)

    def metric(self, pooler, name, **labels):
        samples = parse_metrics(h.http_get(pooler.metrics_port, "/metrics")[1])
        return samples.get(name, **labels) or 0.0

    def long_query(self, client, seconds):
        """Starts pg_sleep(seconds) on client; returns a thread that ends with its outcome."""
        outcome = {}
        marker = h.unique_name("peering")

        def run():
            start = time.monotonic()
            try:
                outcome["rows"] = client.query(f"SELECT pg_sleep({seconds}) /* {marker} */")
            except h.PgError as e:
                outcome["error"] = e.fields
            outcome["elapsed"] = time.monotonic() - start

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.outcome = outcome
        h.wait_until(lambda: any(marker in (b[4] or "") for b in h.backends(state_filter="active")),
                     timeout=10, message="the long query to run on PostgreSQL")
        return thread

    def login(self, pooler):
        client = RawClient(pooler.port, timeout=30)
        client.login("scramuser", h.state()["database"], h.password("scramuser"))
        return client

    def check_cancel_through_the_wrong_peer(self, mode):
        a, b = self.peers(mode)
        with a, b:
            client = self.login(a)
            try:
                pid, key = client.backend_key
                self.assertEqual(key_peer(pid), 1, f"A's key does not carry its peer id: {pid}")
                self.assertEqual(key & 3, 3, "a fresh key has all three hops")
                query = self.long_query(client, 20)
                sent = time.monotonic()
                h.send_cancel(b.port, pid, key)  # the wrong one: B forwards it to A
                query.join(timeout=15)
                self.assertFalse(query.is_alive(), "the query was not cancelled")
                took = time.monotonic() - sent
                error = query.outcome.get("error")
                self.assertIsNotNone(error, f"the query finished: {query.outcome}")
                self.assertEqual(error.get("C"), "57014", error)
                print(f"\n  {mode} mode: cancel through the wrong peer took {took:.2f} s",
                      file=sys.stderr)
                self.assertLess(took, CANCEL_DEADLINE)
                # The client goes on.
                self.assertEqual(client.query("SELECT 1")[0][0], "1")
            finally:
                client.close()
            self.wait_metric(b, 1, "pooler_peer_cancels_forwarded_total", peer_id=1)
            self.wait_metric(a, 1, "pooler_peer_cancels_received_total")

    def test_a_cancel_through_the_wrong_peer_stops_the_query_in_transaction_mode(self):
        self.check_cancel_through_the_wrong_peer("transaction")

    def test_a_cancel_through_the_wrong_peer_stops_the_query_in_session_mode(self):
        # With peering the session-mode key is the pooler's own, so that it names the peer.
        self.check_cancel_through_the_wrong_peer("session")

    def test_forged_unknown_and_spent_keys_do_nothing(self):
        a, b = self.peers()
        with a, b:
            client = self.login(a)
            try:
                pid, key = client.backend_key
                query = self.long_query(client, 3)
                forged = [
                    ("a wrong secret, sent to B", b, pid, key ^ 0x1000),
                    ("a wrong secret, sent to A", a, pid, key ^ 0x1000),
                    ("B's id with A's secret, sent to B", b, with_peer(pid, 2), key),
                    ("an unknown peer", b, with_peer(pid, 7), key),
                    ("no hop left", b, pid, key & ~3),
                ]
                for what, target, fpid, fkey in forged:
                    h.send_cancel(target.port, fpid, fkey)
                query.join(timeout=20)
                self.assertEqual(query.outcome.get("rows"), [[""]],
                                 f"a forged cancel stopped the query: {query.outcome}")
            finally:
                client.close()
            log = b.log()
            self.assertIn("cancel request for unknown peer 7 dropped", log)
            self.assertIn("cancel request for peer 1 dropped: its TTL was exhausted", log)
            self.wait_metric(b, 2, "pooler_peer_cancels_dropped_total")
            self.wait_metric(b, 1, "pooler_peer_cancels_forwarded_total", peer_id=1)

    def test_a_peer_that_never_answers_is_given_up_after_cancel_wait_timeout(self):
        # A "peer" that accepts and then says nothing, as a hung replica would.
        silent = socket.create_server((h.HOST, 0))
        self.addCleanup(silent.close)
        held = []
        threading.Thread(target=lambda: held.append(silent.accept()), daemon=True).start()
        peers = f"\n[peers]\n2 = host={h.HOST} port={silent.getsockname()[1]}\n"
        with Pooler({"peer_id": 1, "cancel_wait_timeout": 1}, extra_ini=peers) as pooler:
            start = time.monotonic()
            h.send_cancel(pooler.port, with_peer(0x01000001, 2), 3, timeout=15)
            took = time.monotonic() - start
            self.assertGreater(took, 0.5, "closed before the peer could have answered")
            self.assertLess(took, 10, "the forward to a silent peer was never given up")
            self.assertIn("cancel request forwarded to peer 2 not answered in time", pooler.log())
            pooler.assert_healthy(self)

    def test_show_peers_and_peer_pools(self):
        a, b = self.peers()
        with a, b, a.connect(ADMIN, dbname="pgbouncer") as admin:
            names, rows = h.show(admin, "PEERS")
            self.assertEqual(names, ["peer_id", "host", "port", "pool_size"])
            self.assertEqual([(r["peer_id"], r["host"], r["port"]) for r in rows],
                             [(1, h.HOST, a.port), (2, h.HOST, b.port)])
            names, rows = h.show(admin, "PEER_POOLS")
            self.assertEqual(names, ["peer_id", "cl_active_cancel_req", "cl_waiting_cancel_req",
                                     "sv_active_cancel", "sv_login"])
            self.assertEqual([r["peer_id"] for r in rows], [1, 2])
            lists = dict(admin.execute("SHOW LISTS").fetchall())
            self.assertEqual((lists["peers"], lists["peer_pools"]), (2, 2))


if __name__ == "__main__":
    h.main()
