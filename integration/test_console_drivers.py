#!/usr/bin/python3
"""Health-check scripts on DB-API drivers reach the admin console as they are written: without
autocommit, psycopg2 and psycopg 3 send BEGIN before the first statement and COMMIT or ROLLBACK
after, which PgBouncer's console refuses (invalid command 'BEGIN'). pooler answers them as
PostgreSQL does and changes nothing; stats users may send them too."""

import unittest

import psycopg
import psycopg2

import harness as h
from harness import Pooler

SETTINGS = {"auth_type": "scram-sha-256", "admin_users": "scramuser", "stats_users": "md5user"}


def psycopg2_console(pooler, user):
    return psycopg2.connect(host=h.HOST, port=pooler.port, user=user, dbname="pgbouncer",
                            password=h.password(user), sslmode="disable", connect_timeout=10)


class ConsoleDrivers(unittest.TestCase):
    def test_psycopg2_health_check_without_autocommit(self):
        with Pooler(SETTINGS) as pooler:
            for user in ("md5user", "scramuser"):
                conn = psycopg2_console(pooler, user)
                try:
                    self.assertFalse(conn.autocommit)
                    cur = conn.cursor()
                    cur.execute("SHOW POOLS;")
                    names = [d[0] for d in cur.description]
                    self.assertEqual(names[:4], ["database", "user", "cl_active", "cl_waiting"])
                    cur.fetchall()
                    conn.commit()
                    cur.execute("SHOW VERSION")
                    self.assertTrue(cur.fetchone()[0].startswith("pooler "))
                    conn.rollback()
                    cur.execute("SHOW STATS")
                    cur.fetchall()
                finally:
                    conn.close()  # in a "transaction" psycopg2 opened: closing must not fail
            pooler.assert_healthy(self)

    def test_psycopg3_health_check_without_autocommit(self):
        with Pooler(SETTINGS) as pooler:
            for user in ("md5user", "scramuser"):
                with pooler.connect(user, dbname="pgbouncer", autocommit=False) as conn:
                    rows = conn.execute("SHOW POOLS;").fetchall()
                    self.assertIsNotNone(rows)
                    conn.commit()
                    state = dict(conn.execute("SHOW STATE").fetchall())
                    self.assertEqual(state["paused"], "no")
                    conn.rollback()
                    with conn.transaction():
                        conn.execute("SHOW CLIENTS").fetchall()

    def test_transaction_statements_answer_postgresql_tags(self):
        cases = [("BEGIN", "BEGIN"), ("begin isolation level serializable;", "BEGIN"),
                 ("START TRANSACTION READ ONLY", "START TRANSACTION"), ("COMMIT", "COMMIT"),
                 ("commit work", "COMMIT"), ("END", "COMMIT"), ("ROLLBACK", "ROLLBACK"),
                 ("ABORT;", "ROLLBACK")]
        with Pooler(SETTINGS) as pooler, pooler.connect("md5user", dbname="pgbouncer") as conn:
            for sql, tag in cases:
                with self.subTest(sql=sql):
                    self.assertEqual(conn.execute(sql).statusmessage, tag)
            # Nothing was opened: the session goes on as before.
            self.assertEqual(conn.execute("SHOW VERSION").rowcount, 1)
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                # A savepoint would need a transaction the console does not have.
                with self.assertRaises(psycopg.errors.SyntaxError):
                    admin.execute("ROLLBACK TO SAVEPOINT a")


if __name__ == "__main__":
    h.main()
