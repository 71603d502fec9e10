#!/usr/bin/python3
"""psycopg 3 through transaction pooling: parameters (extended protocol), executemany, pipeline
mode, transactions, binary results; and psycopg's automatic server-side prepares.

psycopg prepares a query on the server after prepare_threshold (5) executions. Behind a
transaction pooler the next execution may land on a server that never saw the Parse, so
PgBouncer users set prepare_threshold=None; the cases below do too, except the one that checks
the pooler's own prepared-statement tracking (max_prepared_statements, on by default)."""

import datetime
import decimal
import unittest

import psycopg

import harness as h
from harness import Pooler

SETTINGS = {"pool_mode": "transaction", "default_pool_size": 2, "query_wait_timeout": 15}


class Psycopg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.table = h.unique_name("psycopg")
        with h.direct_conn() as c:
            c.execute(f"CREATE TABLE {cls.table} (id int PRIMARY KEY, name text, amount numeric,"
                      " at date, blob bytea)")

    @classmethod
    def tearDownClass(cls):
        with h.direct_conn() as c:
            c.execute(f"DROP TABLE IF EXISTS {cls.table}")

    def setUp(self):
        with h.direct_conn() as c:
            c.execute(f"TRUNCATE {self.table}")

    def connect(self, pooler, **kwargs):
        kwargs.setdefault("prepare_threshold", None)
        return pooler.connect("scramuser", **kwargs)

    def test_parameterized_queries(self):
        with Pooler(SETTINGS) as pooler, self.connect(pooler) as conn:
            self.assertEqual(conn.execute("select %s::int + %s", (1, 2)).fetchone()[0], 3)
            row = conn.execute("select %s, %s, %s, %s, %s",
                               ("text ' \" \\ é", None, decimal.Decimal("12.50"),
                                datetime.date(2024, 2, 29), b"\x00\xff\x10")).fetchone()
            self.assertEqual(row, ("text ' \" \\ é", None, decimal.Decimal("12.50"),
                                   datetime.date(2024, 2, 29), b"\x00\xff\x10"))
            big = "x" * 300_000
            self.assertEqual(conn.execute("select length(%s)", (big,)).fetchone()[0], 300_000)
            with conn.cursor(binary=True) as cur:
                cur.execute("select %s::int8, %s::text", (2**40, "binary"))
                self.assertEqual(cur.fetchone(), (2**40, "binary"))
            with self.assertRaises(psycopg.errors.DivisionByZero):
                conn.execute("select 1 / %s", (0,))
            # The error ended the implicit transaction; the connection goes on.
            self.assertEqual(conn.execute("select %s::int", (7,)).fetchone()[0], 7)

    def test_executemany(self):
        rows = [(i, f"name-{i}", decimal.Decimal(i) / 4, datetime.date(2024, 1, 1 + i % 28),
                 bytes([i % 256]) * 3) for i in range(1000)]
        with Pooler(SETTINGS) as pooler, self.connect(pooler) as conn:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {self.table} VALUES (%s, %s, %s, %s, %s)", rows)
            got = conn.execute(f"SELECT id, name, amount, at, blob FROM {self.table} "
                               "ORDER BY id").fetchall()
        self.assertEqual(got, rows)

    def test_pipeline(self):
        with Pooler(SETTINGS) as pooler, self.connect(pooler) as conn:
            with conn.pipeline():
                c1 = conn.execute("select %s::int * 2", (21,))
                c2 = conn.execute(f"INSERT INTO {self.table} (id, name) VALUES (%s, %s) "
                                  "RETURNING id", (1, "one"))
                c3 = conn.execute(f"INSERT INTO {self.table} (id, name) VALUES (%s, %s) "
                                  "RETURNING id", (2, "two"))
                c4 = conn.execute(f"SELECT count(*) FROM {self.table}")
                c5 = conn.execute("select repeat(%s, %s)", ("ab", 50_000))
            self.assertEqual(c1.fetchone()[0], 42)
            self.assertEqual(c2.fetchone()[0], 1)
            self.assertEqual(c3.fetchone()[0], 2)
            self.assertEqual(c4.fetchone()[0], 2)
            self.assertEqual(c5.fetchone()[0], "ab" * 50_000)
            # An error inside a pipeline aborts the rest of it and the connection recovers.
            with self.assertRaises(psycopg.errors.UniqueViolation):
                with conn.pipeline():
                    conn.execute(f"INSERT INTO {self.table} (id) VALUES (%s)", (1,))
                    conn.execute("select 1")
            self.assertEqual(conn.execute(f"SELECT count(*) FROM {self.table}").fetchone()[0], 2)

    def test_transactions_commit_and_roll_back(self):
        with Pooler(SETTINGS) as pooler, self.connect(pooler) as a, self.connect(pooler) as b:
            with a.transaction():
                a.execute(f"INSERT INTO {self.table} (id) VALUES (1)")
                a.execute(f"INSERT INTO {self.table} (id) VALUES (2)")
            with self.assertRaises(RuntimeError):
                with a.transaction():
                    a.execute(f"INSERT INTO {self.table} (id) VALUES (3)")
                    raise RuntimeError("roll back")
            got = b.execute(f"SELECT array_agg(id ORDER BY id) FROM {self.table}").fetchone()[0]
            self.assertEqual(got, [1, 2])

    def test_interleaved_clients_with_a_pool_of_one(self):
        settings = dict(SETTINGS, default_pool_size=1)
        with Pooler(settings) as pooler:
            conns = [self.connect(pooler) for _ in range(4)]
            try:
                for i in range(20):
                    for n, conn in enumerate(conns):
                        got = conn.execute("select %s::int + %s::int", (i, n)).fetchone()[0]
                        self.assertEqual(got, i + n)
            finally:
                for conn in conns:
                    conn.close()

    def test_automatic_server_side_prepare(self):
        # psycopg's default prepare_threshold: after 5 runs the query becomes a named
        # prepared statement. Four clients share one server, so each client's statement must
        # follow it (or be re-prepared) on whatever server it lands on.
        settings = dict(SETTINGS, default_pool_size=1, max_prepared_statements=100)
        with Pooler(settings) as pooler:
            conns = [pooler.connect("scramuser") for _ in range(4)]
            try:
                self.assertEqual(conns[0].prepare_threshold, 5)  # psycopg's default: prepares
                for i in range(12):
                    for n, conn in enumerate(conns):
                        got = conn.execute("select %s::int * 10 + %s::int", (i, n)).fetchone()
                        self.assertEqual(got[0], i * 10 + n)
            finally:
                for conn in conns:
                    conn.close()


if __name__ == "__main__":
    h.main()
