#!/usr/bin/python3
"""Authentication: clients to the pooler (SCRAM, md5, which method a stored secret allows, wrong
passwords, unknown databases) and the pooler to PostgreSQL (SCRAM, md5, cleartext, trust, and
what the client sees when the server refuses the pooler)."""

import re
import struct
import time
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

    def test_wrong_password_is_28P01_with_pgbouncers_message(self):
        # PgBouncer's words per method (operators grep for them), PostgreSQL's SQLSTATE (drivers
        # check it), and the same close line in the log.
        md5 = h.md5_secret("md5user", h.password("md5user"))
        users = [("scramuser", h.password("scramuser")), ("md5user", md5)]
        cases = [("scram-sha-256", "scramuser", "SASL authentication failed"),
                 ("scram-sha-256", "md5user", "SASL authentication failed"),
                 ("md5", "scramuser", "SASL authentication failed"),
                 ("md5", "md5user", "password authentication failed"),
                 ("plain", "scramuser", "password authentication failed")]
        for auth_type, user, expected in cases:
            with self.subTest(auth_type=auth_type, user=user), \
                    Pooler({"auth_type": auth_type}, users=users) as pooler:
                with self.assertRaises(h.PgError) as caught:
                    login(pooler, user, password="wrong-password")
                self.assertEqual(caught.exception.sqlstate, "28P01")
                self.assertEqual(caught.exception.message, expected)
                proc = pooler.psql("SELECT 1", user=user, password="wrong-password")
                self.assertNotEqual(proc.returncode, 0)
                self.assertIn(expected, proc.stderr)
                h.wait_until(lambda: re.search(
                    rf"C-0x[0-9a-f]+: itest/{user}@127\.0\.0\.1:\d+ closing because: "
                    rf"{re.escape(expected)} \(age=\d+s\)", pooler.log()),
                    timeout=5, message=f"the close line for {user} in the log")

    def test_unknown_database_is_told_only_after_authentication(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            # A wrong password hears about the password, not about the database.
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "scramuser", password="wrong", dbname="nosuchdb")
            self.assertEqual(caught.exception.sqlstate, "28P01")
            self.assertEqual(caught.exception.message, "SASL authentication failed")
            # A user missing from auth_file gets the same answer, through the same exchange.
            with RawClient(pooler.port) as client:
                with self.assertRaises(h.PgError) as caught:
                    client.login("nosuchuser", "nosuchdb", "whatever")
                self.assertEqual(client.auth_method, "scram-sha-256")
            self.assertEqual(caught.exception.sqlstate, "28P01")
            self.assertEqual(caught.exception.message, "SASL authentication failed")
            # The right password learns that the database does not exist.
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "scramuser", dbname="nosuchdb")
            self.assertEqual(caught.exception.sqlstate, "3D000")
            self.assertEqual(caught.exception.message, "no such database: nosuchdb")
            # Logged just after the error went out: wait for the line rather than race it.
            h.wait_until(lambda: re.search(r"C-0x[0-9a-f]+: nosuchdb/scramuser@127\.0\.0\.1:\d+ "
                                           r"closing because: no such database: nosuchdb "
                                           r"\(age=\d+s\)", pooler.log()),
                         timeout=5, message="the close line for the unknown database")

    def test_missing_user_looks_like_a_real_one(self):
        # The salt a missing user is shown stays the same across attempts, as a real user's
        # does (PostgreSQL's mock authentication); a fresh salt each time would give it away.
        with h.superuser_conn() as c:
            verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'"
                                 ).fetchone()[0]
        with Pooler({"auth_type": "scram-sha-256"}, users=[("scramuser", verifier)]) as pooler:
            def salt_shown(user):
                with RawClient(pooler.port) as client:
                    client.send(h.startup_packet(user, "itest"))
                    kind, payload = client.expect(b"R")
                    self.assertEqual(struct.unpack("!i", payload[:4])[0], 10)
                    first = b"n,,n=,r=abcdefghijklmnop"
                    client.send(h.message(b"p", b"SCRAM-SHA-256\0" +
                                          struct.pack("!i", len(first)) + first))
                    kind, payload = client.expect(b"R")
                    attrs = dict(a.split("=", 1) for a in payload[4:].decode().split(","))
                    return attrs["s"], attrs["i"]
            for user in ("scramuser", "nosuchuser"):
                with self.subTest(user=user):
                    first = salt_shown(user)
                    self.assertEqual(salt_shown(user), first)
                    self.assertEqual(first[1], "4096")

    def test_trust_needs_the_user_in_auth_file_and_any_does_not(self):
        with Pooler({"auth_type": "trust"},
                    users=[("scramuser", h.password("scramuser"))]) as pooler:
            self.assertEqual(login(pooler, "scramuser", password="").rows, [["scramuser"]])
            # Trust admits every known name unasked, so the unknown one is named: PostgreSQL's
            # SQLSTATE for a role that does not exist.
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "md5user", password="")
            self.assertEqual(caught.exception.sqlstate, "28000")
            self.assertEqual(caught.exception.message, "no such user: md5user")
        with Pooler({"auth_type": "any"}, users=[("scramuser", "x")],
                    databases={"itest": f"host={h.HOST} port={h.pg_port()} dbname=itest "
                                        f"user=scramuser password={h.password('scramuser')}"}
                    ) as pooler:
            self.assertEqual(login(pooler, "anybody", password="").rows, [["scramuser"]])

    def test_disabled_database_is_told_after_authentication(self):
        settings = {"auth_type": "scram-sha-256", "admin_users": "scramuser"}
        with Pooler(settings) as pooler:
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                admin.execute("DISABLE itest")
                with self.assertRaises(h.PgError) as caught:
                    login(pooler, "scramuser", password="wrong")
                self.assertEqual(caught.exception.message, "SASL authentication failed")
                with self.assertRaises(h.PgError) as caught:
                    login(pooler, "scramuser")
                self.assertEqual(caught.exception.sqlstate, "55000")
                self.assertEqual(caught.exception.message, 'database "itest" is disabled')
                admin.execute("ENABLE itest")
            self.assertEqual(login(pooler, "scramuser").rows, [["scramuser"]])

    def test_unknown_user_is_refused(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            with self.assertRaises(h.PgError) as caught:
                with RawClient(pooler.port) as client:
                    client.login("nosuchuser", "itest", "whatever")
            self.assertEqual(caught.exception.sqlstate, "28P01")

    def test_unknown_database_is_3D000(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
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

    def test_a_secret_of_the_wrong_type_fails_the_login_at_once(self):
        # trust lets the client in without a SCRAM exchange, so the pooler has no SCRAM keys to
        # answer PostgreSQL's SCRAM request with the verifier it holds.
        with h.superuser_conn() as c:
            verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'"
                                 ).fetchone()[0]
        settings = {"auth_type": "trust", "query_wait_timeout": 60}
        with Pooler(settings, users=[("scramuser", verifier)]) as pooler:
            with self.assertRaises(h.PgError) as caught:
                login(pooler, "scramuser", password="")
            self.assertEqual(caught.exception.message, "server login failed: wrong password type")
            h.wait_until(lambda: "cannot do SCRAM authentication: wrong password type"
                         in pooler.log(), timeout=5, message="the wrong password type line")

    def test_server_login_failure_reaches_the_client(self):
        dbs = {"badpass": f"host={h.HOST} port={h.pg_port()} dbname=itest user=scramuser "
                          f"password=not-the-password"}
        settings = {"auth_type": "scram-sha-256", "server_login_retry": 1,
                    "query_wait_timeout": 20}
        with Pooler(settings, databases=dbs) as pooler:
            proc = pooler.psql("SELECT 1", dbname="badpass", timeout=60)
            self.assertNotEqual(proc.returncode, 0)
            # PostgreSQL's own refusal, passed on to the client waiting for the first login.
            self.assertIn('password authentication failed for user "scramuser"', proc.stderr)
            # Within server_login_retry, with no server connected, the next client is told at
            # once, in PgBouncer's words.
            with self.assertRaises(psycopg.Error) as caught:
                with pooler.connect("scramuser", dbname="badpass") as conn:
                    conn.execute("SELECT 1")
            self.assertIn("server login has been failing, try again later (server_login_retry)",
                          str(caught.exception))
            # After it, a new attempt meets PostgreSQL's answer again.
            time.sleep(1.2)
            with self.assertRaises(psycopg.Error) as caught:
                with pooler.connect("scramuser", dbname="badpass") as conn:
                    conn.execute("SELECT 1")
            self.assertIn('password authentication failed for user "scramuser"',
                          str(caught.exception))


if __name__ == "__main__":
    h.main()
