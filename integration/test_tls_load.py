#!/usr/bin/python3
"""Load through client-side TLS: pgbench in transaction mode with no failed transaction, a
~100 MB COPY each way byte-identical while the pooler's memory stays bounded, a client that
stops reading a large result without the pooler buffering it, libpq's cancel of a query run over
TLS, and a certificate replaced (then broken) and reloaded while pgbench keeps connecting.

Every case runs against a database of its own on the main (plain) cluster."""

import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time

import psycopg

import harness as h
import isolated_db
import tls_kit
import tls_support as ts
from harness import Pooler
from isolated_db import db_line
from tls_support import client_tls, ssl_in_use

MB = 1024 * 1024
TLS_ENV = {"PGSSLMODE": "require"}


class Case(isolated_db.Case):
    db_prefix, case_limit = "tls_load", 200

    def pooler(self, settings):
        return Pooler(settings, databases={self.db: db_line(self.db)})

    def tls_connect(self, pooler, **kwargs):
        return pooler.connect("scramuser", dbname=self.db, sslmode="require",
                              prepare_threshold=None, **kwargs)


class Pgbench(Case):
    def test_pgbench_transaction_mode_over_tls_fails_nothing(self):
        h.pgbench_init(self.db)
        settings = {**client_tls("require"), "pool_mode": "transaction", "default_pool_size": 4}
        with self.pooler(settings) as pooler:
            proc = pooler.pgbench("-c", 10, "-t", 200, "-M", "simple", dbname=self.db,
                                  env=TLS_ENV, timeout=180)
            processed, failed = h.pgbench_counts(self, proc)
            self.assertEqual((processed, failed), (2000, 0))


def copy_rows(total_bytes):
    """COPY text-format chunks of about 1 MB, ~total_bytes in all: (id, payload) rows whose
    payload varies with the id so a reordered or lost chunk changes the digest."""
    letters = "abcdefghijklmnopqrstuvwxyz0123456789" * 30
    row_id, sent = 0, 0
    while sent < total_bytes:
        lines = []
        for _ in range(1000):
            row_id += 1
            shift = row_id % 97
            lines.append(f"{row_id}\t{letters[shift:shift + 1000]}\n")
        chunk = "".join(lines).encode()
        sent += len(chunk)
        yield chunk


class BigTransfers(Case):
    def test_copy_100mb_each_way_is_byte_identical_and_memory_stays_bounded(self):
        table = h.unique_name("copy")
        with h.direct_conn(dbname=self.db) as c:
            c.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, payload text)")
        with self.pooler(client_tls("require")) as pooler, \
                h.Sampler(lambda: h.rss_kb(pooler.pid), interval=0.1) as rss:
            sent, received = hashlib.sha256(), hashlib.sha256()
            sent_bytes = received_bytes = 0
            with self.tls_connect(pooler) as conn:
                self.assertTrue(ssl_in_use(conn))
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {table} FROM STDIN") as copy:
                        for chunk in copy_rows(100 * MB):
                            copy.write(chunk)
                            sent.update(chunk)
                            sent_bytes += len(chunk)
                    with cur.copy(f"COPY (SELECT * FROM {table} ORDER BY id) TO STDOUT") as copy:
                        for data in copy:
                            received.update(data)
                            received_bytes += len(data)
        rss.check()
        self.assertGreaterEqual(sent_bytes, 100 * MB)
        self.assertEqual(received_bytes, sent_bytes)
        self.assertEqual(received.hexdigest(), sent.hexdigest())
        peak = max(rss.values)
        print(f"\n  pooler RSS peak {peak / 1024:.0f} MB over {len(rss.values)} samples "
              f"({sent_bytes / MB:.0f} MB each way)", file=sys.stderr)
        self.assertLess(peak, 200 * 1024, f"pooler RSS reached {peak} kB")

    def test_a_client_that_stops_reading_does_not_grow_the_pooler(self):
        with self.pooler(client_tls("prefer")) as pooler:
            with ts.tls_login(pooler.port, dbname=self.db) as warm:
                warm.query("SELECT 1")
            baseline = h.rss_kb(pooler.pid)
            stalled = ts.tls_login(pooler.port, dbname=self.db)
            marker = "stalled_reader"
            stalled.send_query(f"SELECT repeat('x', 1000) AS {marker} "
                               f"FROM generate_series(1, 300000)")

            def blocked_on_client():
                with h.superuser_conn("postgres") as c:
                    return c.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND state = 'active' AND wait_event = 'ClientWrite' "
                        "AND query LIKE %s", (self.db, f"%{marker}%")).fetchone()[0]
            # PostgreSQL itself waits to write: the pooler stopped reading it, not buffered 300 MB.
            h.wait_until(blocked_on_client, timeout=30,
                         message="the server to block writing to the stalled client")
            with h.Sampler(lambda: h.rss_kb(pooler.pid), interval=0.1) as rss:
                time.sleep(3)
                with self.tls_connect(pooler) as other:
                    self.assertEqual(other.execute("SELECT 5").fetchone()[0], 5)
            rss.check()
            self.assertTrue(blocked_on_client(), "the server stopped waiting on the client")
            peak = max(rss.values)
            self.assertLess(peak, baseline + 64 * 1024,
                            f"pooler RSS {peak} kB against a baseline of {baseline} kB")
            stalled.close()
            h.wait_until(lambda: not isolated_db.active_with(self.db, marker), timeout=30,
                         message="the stalled query's server to be let go")
            ts.assert_serves_tls(self, pooler, dbname=self.db)


class Cancel(Case):
    def test_libpq_cancel_stops_a_query_running_over_tls(self):
        # libpq 15 sends its CancelRequest in plain text on a new connection, whatever the
        # session used: require must still let it through, as PostgreSQL and PgBouncer do.
        for mode in ("prefer", "require"):
            with self.subTest(client_tls_sslmode=mode), \
                    self.pooler(client_tls(mode)) as pooler, self.tls_connect(pooler) as conn:
                self.assertTrue(ssl_in_use(conn))
                outcome = {}

                def run():
                    try:
                        conn.execute("SELECT pg_sleep(30)")
                        outcome["error"] = None
                    except psycopg.Error as e:
                        outcome["error"] = e
                    outcome["at"] = time.monotonic()

                thread = threading.Thread(target=run, daemon=True)
                thread.start()
                h.wait_until(lambda: isolated_db.active_with(self.db, "pg_sleep"), timeout=15,
                             message="pg_sleep to run")
                sent = time.monotonic()
                conn.cancel()
                thread.join(timeout=20)
                self.assertFalse(thread.is_alive(), "the query was not cancelled within 20 s")
                self.assertIsInstance(outcome["error"], psycopg.errors.QueryCanceled)
                self.assertLess(outcome["at"] - sent, 10)
                self.assertEqual(conn.execute("SELECT 6").fetchone()[0], 6)


class Reload(Case):
    def test_new_certificate_on_reload_under_load_and_a_broken_one_keeps_the_old(self):
        h.pgbench_init(self.db)
        k = ts.kit()
        live = tempfile.mkdtemp(prefix="pooler-itest-tls-live-")
        self.addCleanup(shutil.rmtree, live, ignore_errors=True)
        cert, key = os.path.join(live, "live.crt"), os.path.join(live, "live.key")

        def install(src_cert, src_key):
            # Each file is replaced whole (rename), as a deploy tool would.
            for src, dest in ((src_key, key), (src_cert, cert)):
                shutil.copyfile(src, dest + ".new")
                os.chmod(dest + ".new", 0o600 if dest.endswith(".key") else 0o644)
                os.replace(dest + ".new", dest)

        install(k.server_cert, k.server_key)
        settings = {**client_tls("prefer", client_tls_cert_file=cert, client_tls_key_file=key),
                    "pool_mode": "transaction", "admin_users": "scramuser"}

        def presented():
            return tls_kit.fingerprint(tls_kit.presented_cert(h.HOST, pooler.port))

        def reload():
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                try:
                    admin.execute("RELOAD")
                except psycopg.Error as e:  # a refused reload may say so; the log must
                    return e
            return None

        with self.pooler(settings) as pooler:
            self.assertEqual(presented(), tls_kit.fingerprint(k.server_cert))
            result = {}
            bench = threading.Thread(target=lambda: result.update(proc=pooler.pgbench(
                "-c", 4, "-T", 8, "-C", dbname=self.db, env=TLS_ENV, timeout=120)),
                daemon=True)
            bench.start()
            time.sleep(2)
            new_cert, new_key = k.new_server_pair()
            install(new_cert, new_key)
            self.assertIsNone(reload())
            h.wait_until(lambda: presented() == tls_kit.fingerprint(new_cert), timeout=10,
                         message="new connections to be shown the new certificate")
            bench.join(timeout=60)
            self.assertFalse(bench.is_alive(), "pgbench did not finish")
            processed, failed = h.pgbench_counts(self, result["proc"])
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0)

            log_before = len(pooler.log())
            with open(cert, "w") as f:
                f.write("this is not a certificate\n")
            refused = reload()
            # The console's RELOAD says the TLS part did not take, naming the file.
            self.assertIsNotNone(refused, "RELOAD reported success with a broken certificate")
            self.assertIn(cert, str(refused))
            problem = h.wait_until(
                lambda: ts.first_match(r"(?i).*(error|warning|fatal|fail).*(tls|ssl|cert).*|"
                                       r".*(tls|ssl|cert).*(error|warning|fatal|fail).*",
                                       pooler.log()[log_before:]),
                timeout=10, message="a log line about the broken certificate")
            self.assertNotIn("PRIVATE KEY", pooler.log())
            print(f"\n  broken certificate logged as: {problem.group(0)}",
                  file=sys.stderr)
            self.assertEqual(presented(), tls_kit.fingerprint(new_cert),
                             "a broken certificate file replaced the working one")
            with self.tls_connect(pooler) as conn:
                self.assertTrue(ssl_in_use(conn))
                self.assertEqual(conn.execute("SELECT 9").fetchone()[0], 9)


if __name__ == "__main__":
    h.main()
