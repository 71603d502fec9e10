#!/usr/bin/python3
"""Restarts without a failed transaction, counted from pgbench's own output. pgbench -C opens a
connection per transaction, as an application's pool does once a connection closes.

Two pooler processes share one port (so_reuseport = 1); one is told SIGTERM (drain_on_sigterm =
1, as the Kubernetes manifests set it) while pgbench runs through the port, exits by itself, and
a new process takes its place: pgbench ends with 0 failed transactions and no connection error,
in transaction and in session mode. The connections already in the old process's accept backlog
are served, not reset. The same with two replicas behind a TCP front (a few lines of Python,
standing for a Service): the front stops sending new connections to the replica being stopped,
as Kubernetes takes a terminating pod out of its endpoints."""

import socket
import subprocess
import sys
import threading
import time

import harness as h
from harness import Pooler
from tcp_proxy import pump

EXIT_DEADLINE = 30.0


class TcpFront:
    """Round-robin TCP front on a free port over a changing set of backend ports."""

    def __init__(self, ports):
        self.ports = list(ports)
        self._next = 0
        self._listener = socket.create_server((h.HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def set_ports(self, ports):
        with self._lock:
            self.ports = list(ports)

    def close(self):
        self._listener.close()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                port = self.ports[self._next % len(self.ports)]
                self._next += 1
            threading.Thread(target=self._relay, args=(client, port), daemon=True).start()

    @staticmethod
    def _relay(client, port):
        try:
            upstream = socket.create_connection((h.HOST, port), timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        other_way = threading.Thread(target=pump, args=(client, upstream), daemon=True)
        other_way.start()
        pump(upstream, client)  # either side closing shuts both down
        other_way.join(timeout=10)
        client.close()
        upstream.close()


class RollingRestart(h.PgbenchDatabaseCase):
    db_prefix = "rolling"

    def setUp(self):
        h.arm_case_alarm(self, 240)

    def pooler(self, mode, port=None):
        settings = {"pool_mode": mode, "default_pool_size": 4, "drain_on_sigterm": 1,
                    "so_reuseport": 1, "query_wait_timeout": 30}
        if port:
            settings["listen_port"] = port
        return Pooler(settings, databases={
            self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"})

    def pgbench(self, port, env):
        return subprocess.Popen(
            ["pgbench", "-h", h.HOST, "-p", str(port), "-U", "scramuser", "-C", "-c", "4",
             "-T", "10", "-n", self.db], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)

    def finish(self, bench, what):
        stdout, stderr = bench.communicate(timeout=60)
        proc = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
        processed, failed = h.pgbench_counts(self, proc)
        print(f"\n  {what}: {processed} transactions, {failed} failed", file=sys.stderr)
        self.assertGreater(processed, 0)
        self.assertEqual(failed, 0)
        self.assertNotIn("connection to server", stderr, f"{what}: a connection failed")

    def stop(self, pooler, what):
        pooler.send_signal(15)
        try:
            code = pooler.proc.wait(timeout=EXIT_DEADLINE)
        except subprocess.TimeoutExpired:
            self.fail(f"{what}: still running {EXIT_DEADLINE} s after SIGTERM")
        self.assertEqual(code, 0, h.describe_exit(code))

    def test_two_processes_on_one_port_restart_one_without_a_failure(self):
        for mode in ("transaction", "session"):
            with self.subTest(pool_mode=mode):
                port = h.free_port()
                with self.pooler(mode, port) as old, self.pooler(mode, port) as other:
                    bench = self.pgbench(port, old.client_env("scramuser", None))
                    try:
                        time.sleep(3)
                        self.stop(old, "the process being restarted")
                        with self.pooler(mode, port) as new:
                            time.sleep(2)
                            self.assertTrue(new.alive() and other.alive())
                            self.finish(bench, f"{mode} mode, so_reuseport restart")
                    finally:
                        if bench.poll() is None:
                            bench.kill()

    def test_two_replicas_behind_a_tcp_front_restart_one_without_a_failure(self):
        for mode in ("transaction", "session"):
            with self.subTest(pool_mode=mode):
                with self.pooler(mode) as old, self.pooler(mode) as other:
                    front = TcpFront([old.port, other.port])
                    bench = self.pgbench(front.port, old.client_env("scramuser", None))
                    try:
                        time.sleep(3)
                        front.set_ports([other.port])  # out of the endpoints, then SIGTERM
                        self.stop(old, "the replica being restarted")
                        with self.pooler(mode) as new:
                            front.set_ports([other.port, new.port])
                            time.sleep(2)
                            self.finish(bench, f"{mode} mode, replica restart behind a front")
                    finally:
                        front.close()
                        if bench.poll() is None:
                            bench.kill()


if __name__ == "__main__":
    h.main()
