#!/usr/bin/python3
"""COPY through the pooler: ~100 MB in (COPY FROM STDIN) and ~100 MB out (COPY TO STDOUT) arrive
byte-identical, and the pooler's RSS stays under 64 MB while they flow, even when one side stalls
for seconds (the pooler must stop reading rather than buffer the stream)."""

import hashlib
import sys
import time
import unittest

import harness as h
from harness import Pooler

ROWS = 1_050_000  # ~100 MB of text rows
STALL_AT = 200_000  # where PostgreSQL (in) or the client (out) stops reading for a while
STALL_SECONDS = 3
RSS_LIMIT_KB = 64 * 1024
COPY_OUT_SQL = "COPY (SELECT id, payload FROM {table} ORDER BY id) TO STDOUT"


def generate(rows=ROWS, chunk_rows=10_000):
    """Deterministic COPY text: `id<TAB>90 hex chars<NL>`, in chunks of ~1 MB."""
    base = hashlib.sha256(b"pooler copy").hexdigest() * 3
    for start in range(0, rows, chunk_rows):
        yield "".join(f"{i}\t{base[i % 97:i % 97 + 90]}\n"
                      for i in range(start, min(rows, start + chunk_rows))).encode()


def input_digest():
    sha, size = hashlib.sha256(), 0
    for chunk in generate():
        sha.update(chunk)
        size += len(chunk)
    return sha.hexdigest(), size


def copy_out(conn, table, stall_after=None):
    """sha256 and size of COPY TO STDOUT; optionally stops reading for a while midway."""
    sha, size, stalled = hashlib.sha256(), 0, False
    with conn.cursor().copy(COPY_OUT_SQL.format(table=table)) as copy:
        for data in copy:
            sha.update(data)
            size += len(data)
            if stall_after is not None and not stalled and size > stall_after:
                stalled = True
                time.sleep(STALL_SECONDS)
    return sha.hexdigest(), size


class Copy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.want_digest, cls.want_size = input_digest()
        assert cls.want_size > 100_000_000, cls.want_size

    def setUp(self):
        self.table = h.unique_name("copy")
        with h.direct_conn() as c:
            c.execute(f"CREATE TABLE {self.table} (id int PRIMARY KEY, payload text)")
            # PostgreSQL stops reading the COPY stream for a while at one row: a pooler that
            # keeps reading its client meanwhile has to buffer everything that follows.
            c.execute(f"CREATE FUNCTION {self.table}_stall() RETURNS trigger LANGUAGE plpgsql "
                      f"AS $$ BEGIN PERFORM pg_sleep({STALL_SECONDS}); RETURN NEW; END $$")
            c.execute(f"CREATE TRIGGER stall BEFORE INSERT ON {self.table} FOR EACH ROW "
                      f"WHEN (NEW.id = {STALL_AT}) EXECUTE FUNCTION {self.table}_stall()")

    def tearDown(self):
        with h.direct_conn() as c:
            c.execute(f"DROP TABLE IF EXISTS {self.table}")
            c.execute(f"DROP FUNCTION IF EXISTS {self.table}_stall()")

    def rss_check(self, sampler, what):
        sampler.check()
        peak = max(sampler.values)
        print(f"\n  {what}: pooler RSS peak {peak} kB over {len(sampler.values)} samples",
              file=sys.stderr)
        self.assertLess(peak, RSS_LIMIT_KB, f"{what}: pooler RSS reached {peak} kB")

    def test_copy_in_and_out_100mb(self):
        settings = {"pool_mode": "session", "default_pool_size": 2}
        with Pooler(settings) as pooler:
            pid = pooler.pid
            # COPY FROM STDIN through the pooler.
            with pooler.connect("scramuser") as conn:
                sha, size = hashlib.sha256(), 0
                with h.Sampler(lambda: h.rss_kb(pid)) as sampler:
                    with conn.cursor().copy(f"COPY {self.table} (id, payload) FROM STDIN") as cp:
                        for chunk in generate():
                            sha.update(chunk)
                            size += len(chunk)
                            cp.write(chunk)
                self.assertEqual((sha.hexdigest(), size), (self.want_digest, self.want_size))
            self.rss_check(sampler, "COPY FROM STDIN")

            # What PostgreSQL stored is exactly what went in.
            with h.direct_conn() as direct:
                self.assertEqual(copy_out(direct, self.table), (self.want_digest, self.want_size),
                                 "COPY FROM through the pooler stored different bytes")

            # COPY TO STDOUT through the pooler, with a client that stops reading for a while.
            with pooler.connect("scramuser") as conn:
                with h.Sampler(lambda: h.rss_kb(pid)) as sampler:
                    got = copy_out(conn, self.table, stall_after=20_000_000)
                self.assertEqual(got, (self.want_digest, self.want_size),
                                 "COPY TO through the pooler delivered different bytes")
                # The session is still in step after 100 MB.
                self.assertEqual(conn.execute("SELECT 42").fetchone()[0], 42)
            self.rss_check(sampler, "COPY TO STDOUT")


if __name__ == "__main__":
    h.main()
