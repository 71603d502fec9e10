#!/usr/bin/python3
"""SASLprep: a PostgreSQL role whose SCRAM password is IX-Ⅸ (U+2168 ROMAN NUMERAL NINE, which
SASLprep's NFKC turns into "IX") logs in directly and through the pooler: with the plain password
in auth_file (the pooler verifies the client's SCRAM proof and logs in to PostgreSQL with SCRAM,
both from the prepared password), with the verifier from pg_authid in auth_file (SCRAM
pass-through), with md5 from the client (only the pooler's login to PostgreSQL prepares the
password) and with a cleartext password checked against the verifier. The wrong password IX-IX9
fails with 28P01 everywhere."""

import unittest

import psycopg
from psycopg import sql

import harness as h
from harness import Pooler, RawClient

PASSWORD = "IX-\u2168"
WRONG = "IX-IX9"


class SaslprepPasswords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.role = h.unique_name("saslprep")
        with h.superuser_conn() as c:
            c.execute("SET password_encryption = 'scram-sha-256'")
            c.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(cls.role), sql.Literal(PASSWORD)))
            cls.verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                                     (cls.role,)).fetchone()[0]

    @classmethod
    def tearDownClass(cls):
        with h.superuser_conn() as c:
            c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                      (cls.role,))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(cls.role)))

    def connect(self, port, password, dbname=None):
        return psycopg.connect(host=h.HOST, port=port, user=self.role, password=password,
                               dbname=dbname or h.state()["database"], sslmode="disable",
                               connect_timeout=10, autocommit=True)

    def assert_logs_in(self, port, dbname=None):
        with self.connect(port, PASSWORD, dbname) as conn:
            self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], self.role)

    def assert_refused(self, port, dbname=None):
        with self.assertRaises(h.PgError) as caught:
            with RawClient(port) as client:
                client.login(self.role, dbname or h.state()["database"], WRONG)
        self.assertEqual(caught.exception.sqlstate, "28P01")

    def test_postgresql_itself_stored_a_scram_verifier_and_takes_the_password(self):
        self.assertTrue(self.verifier.startswith("SCRAM-SHA-256$"), self.verifier)
        self.assert_logs_in(h.pg_port())
        self.assert_refused(h.pg_port())

    def test_plain_password_in_auth_file(self):
        with Pooler({"auth_type": "scram-sha-256"}, users=[(self.role, PASSWORD)]) as pooler:
            self.assert_logs_in(pooler.port)
            self.assert_refused(pooler.port)

    def test_verifier_from_pg_authid_in_auth_file(self):
        with Pooler({"auth_type": "scram-sha-256"}, users=[(self.role, self.verifier)]) as pooler:
            self.assert_logs_in(pooler.port)
            self.assert_refused(pooler.port)

    def test_md5_client_then_scram_to_postgresql_from_the_plain_password(self):
        # md5 hashes the raw bytes on both ends; only the pooler's SCRAM login to PostgreSQL
        # needs the prepared password.
        with Pooler({"auth_type": "md5"}, users=[(self.role, PASSWORD)]) as pooler:
            self.assert_logs_in(pooler.port)
            self.assert_refused(pooler.port)

    def test_cleartext_password_checked_against_the_verifier(self):
        # libpq sends a cleartext password as typed; the pooler prepares it before deriving keys
        # with the verifier's salt. The [databases] password logs the pooler in to PostgreSQL.
        db = h.state()["database"]
        databases = {db: f"host={h.HOST} port={h.pg_port()} dbname={db} password='{PASSWORD}'"}
        with Pooler({"auth_type": "plain"}, users=[(self.role, self.verifier)],
                    databases=databases) as pooler:
            self.assert_logs_in(pooler.port)
            with RawClient(pooler.port) as client:
                client.login(self.role, db, PASSWORD)
                self.assertEqual(client.auth_method, "cleartext")
            self.assert_refused(pooler.port)


if __name__ == "__main__":
    h.main()
