#!/usr/bin/python3
"""-R / --reboot, which PgBouncer scripts still call: the new process listens on the same port
(SO_REUSEPORT) and unix socket, tells the old one to stop accepting, and the old one (with
drain_on_sigterm = 1) drains at transaction boundaries and exits, while pgbench runs through it without a failed transaction. A
second start without -R is refused instead of sharing the port by accident."""

import os
import signal
import socket
import subprocess
import sys
import time

import harness as h
from harness import Pooler


def start_successor(pooler, *args):
    out = open(os.path.join(pooler.dir, "successor.out"), "ab")
    proc = subprocess.Popen([h.pooler_bin(), *args, pooler.ini], stdout=out,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=pooler.dir,
                            preexec_fn=h._die_with_parent)
    out.close()
    return proc


def successor_output(pooler):
    with open(os.path.join(pooler.dir, "successor.out"), errors="replace") as f:
        return f.read()


def pidfile_pid(pooler):
    with open(os.path.join(pooler.dir, "pooler.pid")) as f:
        return int(f.read().strip())


class Reboot(h.PgbenchDatabaseCase):
    db_prefix = "reboot"

    def pooler(self):
        databases = {self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"}
        return Pooler({"pool_mode": "transaction", "default_pool_size": 4, "drain_on_sigterm": 1},
                      databases=databases)

    def test_reboot_under_pgbench_loses_no_transaction(self):
        with self.pooler() as old:
            bench = subprocess.Popen(
                ["pgbench", "-h", h.HOST, "-p", str(old.port), "-U", "scramuser", "-C", "-c",
                 "4", "-T", "10", "-n", self.db], env=old.client_env("scramuser", None),
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(3)
            old._term_sent = True  # the successor tells it to go; that is no crash
            new = start_successor(old, "-R")
            try:
                code = old.proc.wait(timeout=60)
                self.assertEqual(code, 0, "the old process did not exit cleanly")
                self.assertTrue(new.poll() is None, successor_output(old))
                self.assertEqual(pidfile_pid(old), new.pid)
                stdout, stderr = bench.communicate(timeout=60)
                proc = subprocess.CompletedProcess(bench.args, bench.returncode, stdout, stderr)
                processed, failed = h.pgbench_counts(self, proc)
                print(f"\n  pgbench -C through -R: {processed} transactions, {failed} failed",
                      file=sys.stderr)
                self.assertGreater(processed, 0)
                self.assertEqual(failed, 0)
                log = old.log()
                self.assertIn("-R: listening beside the old process", log)
                # The old process left the unix socket to its successor: both ways still work.
                proc = subprocess.run(
                    ["psql", "-X", "-A", "-t", "-h", old.dir, "-p", str(old.port), "-U",
                     "scramuser", "-d", self.db, "-c", "SELECT 42"],
                    env=old.client_env("scramuser", None), capture_output=True, text=True,
                    timeout=30)
                self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "42"), proc.stderr)
                proc = old.psql("SELECT 43", dbname=self.db)
                self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "43"), proc.stderr)
            finally:
                if bench.poll() is None:
                    bench.kill()
                new.send_signal(signal.SIGTERM)
                try:
                    new.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    new.kill()
            self.assertEqual(new.returncode, 0, successor_output(old))
            self.assertFalse(os.path.exists(os.path.join(old.dir, "pooler.pid")))

    def test_a_second_start_without_reboot_is_refused(self):
        with self.pooler() as first:
            second = start_successor(first)
            self.assertEqual(second.wait(timeout=30), 1)
            self.assertIn("names a running process", successor_output(first))
            # A different pidfile does not get around the port being taken.
            other = os.path.join(first.dir, "other.ini")
            with open(other, "w") as f:
                f.write(first.ini_text.replace("pooler.pid", "other.pid").replace(
                    f"logfile = {first.logfile}", f"logfile = {first.logfile}.other"))
            proc = subprocess.run([h.pooler_bin(), other], capture_output=True, text=True,
                                  timeout=30, stdin=subprocess.DEVNULL)
            self.assertNotEqual(proc.returncode, 0)
            with open(first.logfile + ".other", errors="replace") as f:
                self.assertIn("address already in use", f.read().lower())
            self.assertTrue(first.alive())
            with socket.create_connection((h.HOST, first.port), timeout=5):
                pass
            proc = first.psql("SELECT 44", dbname=self.db)
            self.assertEqual(proc.stdout.strip(), "44", proc.stderr)


if __name__ == "__main__":
    h.main()
