#!/usr/bin/python3
"""Shutdown: SIGTERM with no clients connected ends the process promptly and cleanly, also when
its pools hold idle server connections (PgBouncer: TERM waits for clients, and there are none),
and the server connections are closed."""

import signal
import unittest

import harness as h
from harness import Pooler

PROMPT = 5.0


class Shutdown(unittest.TestCase):
    def assert_prompt_exit(self, pooler):
        code = pooler.terminate(PROMPT)
        self.assertIsNotNone(code, f"still running {PROMPT} s after SIGTERM with no clients")
        self.assertIn(code, (0, -signal.SIGTERM), h.describe_exit(code))

    def test_sigterm_before_any_client(self):
        with Pooler() as pooler:
            self.assert_prompt_exit(pooler)

    def test_sigterm_with_idle_servers_in_the_pools(self):
        db = h.create_database(prefix="shutdown")
        try:
            for mode in ("session", "transaction"):
                dbs = {db: f"host={h.HOST} port={h.pg_port()} dbname={db}"}
                with self.subTest(pool_mode=mode), Pooler({"pool_mode": mode},
                                                          databases=dbs) as pooler:
                    with pooler.connect("scramuser", dbname=db) as a, \
                            pooler.connect("md5user", dbname=db) as b:
                        a.execute("SELECT 1")
                        b.execute("SELECT 1")
                    # Both clients are gone; their servers idle in the pools.
                    self.assertEqual(len(h.backends(dbname=db)), 2)
                    self.assert_prompt_exit(pooler)
                    h.wait_until(lambda: not h.backends(dbname=db), timeout=10,
                                 message="the pooler's server connections to close")
        finally:
            h.drop_database(db)


if __name__ == "__main__":
    h.main()
