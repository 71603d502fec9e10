#!/usr/bin/python3
"""Authentication: clients to the pooler (SCRAM, md5, which method a stored secret allows, wrong
passwords, unknown databases) and the pooler to PostgreSQL (SCRAM, md5, cleartext, trust, and
what the client sees when the server refuses the pooler)."""

import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient

USERS = ("scramuser", "md5user", "plainuser", "trustuser")


def login(pooler, user, password=None, dbname="itest"):
    """A raw login through the pooler; returns the client (closed) so the method can be read."""
    with RawClient(pooler.port) as client:
        client.login(user, dbname, h.password(user) if password is None else password)
        rows = client.query("SELECT current_user")
        client.rows = rows
        return client


class ClientAuth(unittest.TestCase):
    def test_scram_auth_type_uses_scram_and_psql_and_psycopg_log_in(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            client = login(pooler, "scramuser")
            self.assertEqual(client.auth_method, "scram-sha-256")
            self.assertIn("SCRAM-SHA-256", client.sasl_mechanisms)
            self.assertEqual(client.rows, [["scramuser"]])

            proc = pooler.psql("SELECT current_user", user="scramuser")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), "scramuser")
            with pooler.connect("scramuser") as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "scramuser")

    def test_scram_auth_type_with_a_scram_verifier_in_auth_file(self):
        # The verifier PostgreSQL stores, copied into userlist.txt: the pooler can check the
        # client's proof and, with the ClientKey it recovers, log in to PostgreSQL as the user.
        with h.superuser_conn() as c:
            verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'"
                                 ).fetchone()[0]
        with Pooler({"auth_type": "scram-sha-256"}, users=[("scramuser", verifier)]) as pooler:
            client = login(pooler, "scramuser")
            self.assertEqual(client.auth_method, "scram-sha-256")
            self.assertEqual(client.rows, [["scramuser"]])
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "scramuser", password="not-the-password")
            self.assertEqual(caught.exception.sqlstate, "28P01")

    def test_md5_secret_with_md5_auth_type_logs_in_via_md5(self):
        secret = h.md5_secret("md5user", h.password("md5user"))
        with Pooler({"auth_type": "md5"}, users=[("md5user", secret)]) as pooler:
            client = login(pooler, "md5user")
            self.assertEqual(client.auth_method, "md5")
            self.assertEqual(client.rows, [["md5user"]])
            proc = pooler.psql("SELECT current_user", user="md5user")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), "md5user")

    def test_plain_secret_with_md5_auth_type_offers_scram(self):
        # The strongest method the stored secret allows: a plain secret allows SCRAM.
        with Pooler({"auth_type": "md5"}) as pooler:
            for user in ("scramuser", "md5user"):
                with self.subTest(user=user):
                    client = login(pooler, user)
                    self.assertEqual(client.auth_method, "scram-sha-256")
                    self.assertEqual(client.rows, [[user]])
                    proc = pooler.psql("SELECT current_user", user=user)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertEqual(proc.stdout.strip(), user)

    def test_wrong_password_is_28P01(self):
        md5 = h.md5_secret("md5user", h.password("md5user"))
        users = [("scramuser", h.password("scramuser")), ("md5user", md5)]
        for auth_type in ("scram-sha-256", "md5"):
            with Pooler({"auth_type": auth_type}, users=users) as pooler:
                for user in ("scramuser", "md5user"):
                    with self.subTest(auth_type=auth_type, user=user):
                        with self.assertRaises(h.PgError) as caught:
                            login(pooler, user, password="wrong-password")
                        self.assertEqual(caught.exception.sqlstate, "28P01")
                        self.assertIn(f'password authentication failed for user "{user}"',
                                      caught.exception.message)
                        proc = pooler.psql("SELECT 1", user=user, password="wrong-password")
                        self.assertNotEqual(proc.returncode, 0)
                        self.assertIn(f'password authentication failed for user "{user}"',
                                      proc.stderr)

    def test_unknown_user_is_refused(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            with self.assertRaises(h.PgError) as caught:
                with RawClient(pooler.port) as client:
                    client.login("nosuchuser", "itest", "whatever")
            self.assertEqual(caught.exception.sqlstate, "28P01")

    def test_unknown_database_is_3D000(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "scramuser", dbname="nosuchdb")
            self.assertEqual(caught.exception.sqlstate, "3D000")
            self.assertIn("nosuchdb", caught.exception.message)
            proc = pooler.psql("SELECT 1", dbname="nosuchdb")
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("nosuchdb", proc.stderr)


class ServerAuth(unittest.TestCase):
    """The pooler logs in to PostgreSQL with whatever method pg_hba.conf and the stored password
    call for: scramuser SCRAM, md5user md5, plainuser cleartext, trustuser trust."""

    def test_forced_user_and_password_from_databases_section(self):
        dbs = {f"as_{user}": f"host={h.HOST} port={h.pg_port()} dbname=itest user={user} "
                             f"password={h.password(user)}" for user in USERS}
        with Pooler({"auth_type": "scram-sha-256"}, databases=dbs) as pooler:
            for user in USERS:
                with self.subTest(server_user=user):
                    # The client is scramuser; the server connection is the forced user.
                    proc = pooler.psql("SELECT current_user", user="scramuser",
                                       dbname=f"as_{user}")
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    self.assertEqual(proc.stdout.strip(), user)

    def test_password_from_auth_file(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            for user in USERS:
                with self.subTest(user=user):
                    with pooler.connect(user) as conn:
                        row = conn.execute("SELECT current_user, current_database()").fetchone()
                    self.assertEqual(row, (user, "itest"))

    def test_md5_secret_in_auth_file_logs_in_to_an_md5_server(self):
        # Only the hash is known: md5 to the server works from the hash alone.
        secret = h.md5_secret("md5user", h.password("md5user"))
        with Pooler({"auth_type": "md5"}, users=[("md5user", secret)]) as pooler:
            proc = pooler.psql("SELECT current_user", user="md5user")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), "md5user")

    def test_server_login_failure_reaches_the_client(self):
        dbs = {"badpass": f"host={h.HOST} port={h.pg_port()} dbname=itest user=scramuser "
                          f"password=not-the-password"}
        settings = {"auth_type": "scram-sha-256", "server_login_retry": 1,
                    "query_wait_timeout": 20}
        with Pooler(settings, databases=dbs) as pooler:
            proc = pooler.psql("SELECT 1", dbname="badpass", timeout=60)
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn('password authentication failed for user "scramuser"', proc.stderr)
            with self.assertRaises(psycopg.Error) as caught:
                with pooler.connect("scramuser", dbname="badpass") as conn:
                    conn.execute("SELECT 1")
            self.assertIn('password authentication failed for user "scramuser"',
                          str(caught.exception))


if __name__ == "__main__":
    h.main()
