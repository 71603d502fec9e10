#!/usr/bin/python3
"""Client connection limits as PgBouncer 1.24+ counts them: max_db_client_connections (global, or
the [databases] entry's) and max_user_client_connections (global, or the [users] entry's) count
every client that has named a database and user, from its startup packet on (a client still
authenticating counts), refuse the one over the limit with PgBouncer's words and SQLSTATE 53300,
free the place when a client leaves, never turn an admin user away from the console, follow a
RELOAD, and show in SHOW DATABASES and SHOW USERS as current_client_connections."""

import unittest

import psycopg

import harness as h
from harness import PgError, Pooler, RawClient

DB_LIMIT = "client connections exceeded (max_db_client_connections)"
USER_LIMIT = "client connections exceeded (max_user_client_connections)"


def db_line(**options):
    line = f"host={h.HOST} port={h.pg_port()} dbname={h.state()['database']}"
    return line + "".join(f" {k}={v}" for k, v in options.items())


def pooler(settings=None, db_options=None, user_settings=None):
    s = {"pool_mode": "transaction", "default_pool_size": 2, "admin_users": "scramuser",
         "max_client_conn": 100}
    s.update(settings or {})
    return Pooler(s, databases={h.state()["database"]: db_line(**(db_options or {}))},
                  user_settings=user_settings)


class Limits(unittest.TestCase):
    def assert_refused(self, p, message, user="scramuser", dbname=None):
        raw = RawClient(p.port)
        try:
            with self.assertRaises(PgError) as caught:
                raw.login(user, dbname or h.state()["database"], h.password(user))
        finally:
            raw.close()
        self.assertEqual(caught.exception.sqlstate, "53300")
        self.assertEqual(caught.exception.message, message)
        # psycopg sees the same words.
        with self.assertRaises(psycopg.OperationalError) as caught:
            p.connect(user, dbname=dbname)
        self.assertIn(message, str(caught.exception))

    def test_global_database_limit_counts_and_frees_places(self):
        with pooler({"max_db_client_connections": 2}) as p:
            first = p.connect("scramuser")
            second = p.connect("md5user")
            self.assert_refused(p, DB_LIMIT, user="trustuser")
            first.close()
            # The place is free again once the pooler has seen the close.
            h.wait_until(lambda: self._can_connect(p, "trustuser"), message="a freed place")
            second.close()

    def _can_connect(self, p, user):
        try:
            with p.connect(user) as conn:
                return conn.execute("SELECT 1").fetchone()[0] == 1
        except psycopg.OperationalError as e:
            if DB_LIMIT not in str(e) and USER_LIMIT not in str(e):
                raise
            return False

    def test_database_entry_overrides_the_global_limit(self):
        with pooler({"max_db_client_connections": 5},
                    db_options={"max_db_client_connections": 1}) as p:
            with p.connect("scramuser"):
                self.assert_refused(p, DB_LIMIT, user="md5user")

    def test_user_limit_global_and_per_user(self):
        with pooler({"max_user_client_connections": 1},
                    user_settings={"md5user": "max_user_client_connections=2"}) as p:
            with p.connect("scramuser"):
                self.assert_refused(p, USER_LIMIT, user="scramuser")
                with p.connect("md5user"), p.connect("md5user"):
                    self.assert_refused(p, USER_LIMIT, user="md5user")
                # Another user is not affected by scramuser's count.
                with p.connect("trustuser") as other:
                    self.assertEqual(other.execute("SELECT 1").fetchone()[0], 1)

    def test_a_client_still_authenticating_counts(self):
        with pooler({"max_db_client_connections": 1}) as p:
            half = RawClient(p.port)
            try:
                # Its startup packet, then silence where the password should be.
                half.send(h.startup_packet("scramuser", h.state()["database"]))
                kind, _ = half.read()
                self.assertEqual(kind, b"R")
                self.assert_refused(p, DB_LIMIT, user="md5user")
            finally:
                half.close()
            h.wait_until(lambda: self._can_connect(p, "md5user"), message="a freed place")

    def test_console_admin_is_exempt_and_counts_show_in_the_console(self):
        with pooler({"max_user_client_connections": 1, "max_db_client_connections": 1},
                    user_settings={"scramuser": "pool_mode=transaction"}) as p:
            with p.connect("scramuser") as held:
                held.execute("SELECT 1")
                # The admin still reaches the console over its own user limit.
                with p.connect("scramuser", dbname="pgbouncer") as console:
                    _, users = h.show(console, "USERS")
                    row = {u["name"]: u for u in users}
                    _, dbs = h.show(console, "DATABASES")
                    db = {d["name"]: d for d in dbs}[h.state()["database"]]
                self.assertEqual(db["current_client_connections"], 1)
                self.assertEqual(db["max_client_connections"], 1)
                # Its data client and its console client, both.
                self.assertEqual(row["scramuser"]["current_client_connections"], 2)

    def test_show_users_counts_and_reload_raises_a_limit(self):
        with pooler({"max_db_client_connections": 1},
                    user_settings={"md5user": "pool_mode=transaction"}) as p:
            with p.connect("md5user"):
                with p.connect("scramuser", dbname="pgbouncer") as console:
                    _, users = h.show(console, "USERS")
                    md5 = {u["name"]: u for u in users}["md5user"]
                    self.assertEqual(md5["current_client_connections"], 1)
                self.assert_refused(p, DB_LIMIT, user="trustuser")
                p.settings["max_db_client_connections"] = 2
                p.write_config()
                with p.connect("scramuser", dbname="pgbouncer") as console:
                    console.execute("RELOAD")
                with p.connect("trustuser") as conn:
                    self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)


if __name__ == "__main__":
    unittest.main()
