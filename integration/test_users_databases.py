#!/usr/bin/python3
"""Users and databases as PgBouncer deployments set them up: a forced user (one pool for every
client of a database, each client still authenticating as itself), auth_type = any, the "*"
fallback's auto-databases (listed in SHOW DATABASES, forgotten after autodb_idle_timeout without
clients), the login refusals for a missing database, a missing user and a disabled database
(PgBouncer's words, PostgreSQL's SQLSTATEs, one log line each), and auth_file changes taking
effect at RELOAD and SIGHUP."""

import os
import re
import signal
import tempfile
import time
import unittest

import psycopg

import harness as h
import isolated_db
from harness import Pooler, RawClient


def forced_line(db, user, with_password=True, **options):
    """A [databases] line for `db` on the test cluster that logs in to PostgreSQL as `user`."""
    line = isolated_db.db_line(db, user=user, **options)
    return line + (f" password={h.password(user)}" if with_password else "")


def console(pooler, user="scramuser"):
    return pooler.connect(user, dbname="pgbouncer")


def rows_for(conn, what, database):
    """The rows of SHOW `what` (POOLS: database column, DATABASES: name column) for database."""
    column = "name" if what == "DATABASES" else "database"
    return [r for r in h.show(conn, what)[1] if r[column] == database]


def refused(pooler, user, dbname, password=None):
    """Logs in with a RawClient that must be refused: (PgError, the client's local port, what
    the pooler sent after the error before closing)."""
    client = RawClient(pooler.port)
    port = client.sock.getsockname()[1]
    try:
        with client:
            client.login(user, dbname, password)
    except h.PgError as e:
        try:
            rest = h.read_until_closed(client.sock)
        except OSError:
            rest = b""
        return e, port, rest
    raise AssertionError(f"{user}@{dbname} was let in")


def client_lines(pooler, port):
    """The log lines about the client that connected from `port`, but its login attempt."""
    marker = f"@127.0.0.1:{port} "
    return [line for line in pooler.log().splitlines()
            if marker in line and "login attempt" not in line]


class RefusalCase(unittest.TestCase):
    def assert_one_line(self, pooler, port, expected):
        """The refused client's only log line (after its login attempt) is PgBouncer's close
        line with `expected` as the reason."""
        pattern = re.compile(rf"closing because: {re.escape(expected)} \(age=\d+s\)$")
        h.wait_until(lambda: any(pattern.search(line) for line in client_lines(pooler, port)),
                     timeout=5, message=f"the close line {expected!r}")
        time.sleep(0.2)  # a second line about the same client would come right after
        lines = client_lines(pooler, port)
        self.assertEqual(len(lines), 1, lines)


class ForcedUser(isolated_db.Case):
    db_prefix, case_limit = "forced", 150

    def test_every_client_shares_the_forced_users_pool_and_authenticates_as_itself(self):
        settings = {"auth_type": "scram-sha-256", "pool_mode": "transaction",
                    "default_pool_size": 2, "admin_users": "scramuser"}
        databases = {"shared": forced_line(self.db, "plainuser")}
        with Pooler(settings, databases=databases) as pooler:
            conns = [pooler.connect(user, dbname="shared", prepare_threshold=None)
                     for user in ("scramuser", "md5user", "trustuser")]
            try:
                for conn in conns:
                    self.assertEqual(conn.execute("SELECT current_user, session_user").fetchone(),
                                     ("plainuser", "plainuser"))
                proc = pooler.psql("SELECT current_user", user="md5user", dbname="shared")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(proc.stdout.strip(), "plainuser")
                # Each client proves its own password, not the forced user's.
                error, _, _ = refused(pooler, "md5user", "shared", h.password("plainuser"))
                self.assertEqual((error.sqlstate, error.message),
                                 ("28P01", "SASL authentication failed"))
                with console(pooler) as admin:
                    pools = rows_for(admin, "POOLS", "shared")
                    self.assertEqual([p["user"] for p in pools], ["plainuser"], pools)
                    # The three idle clients hold no server in transaction mode, yet are the
                    # pool's clients.
                    self.assertEqual(pools[0]["cl_active"], 3, pools)
                    db = rows_for(admin, "DATABASES", "shared")
                    self.assertEqual(db[0]["force_user"], "plainuser", db)
                    self.assertEqual(db[0]["current_client_connections"], 3, db)
            finally:
                for conn in conns:
                    conn.close()
            users = {user for _, user, _, _ in isolated_db.db_backends(self.db)}
            self.assertEqual(users, {"plainuser"})

    def test_pgbench_connecting_per_transaction_as_several_users_uses_one_pool(self):
        settings = {"auth_type": "md5", "pool_mode": "transaction", "default_pool_size": 2,
                    "admin_users": "scramuser"}
        # No password in the entry: the forced user's own from auth_file.
        databases = {"shared": forced_line(self.db, "md5user", with_password=False)}
        with Pooler(settings, databases=databases) as pooler, \
                tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
            script.write("SELECT current_user;\n")
            script.flush()
            for user in ("scramuser", "plainuser"):
                proc = pooler.pgbench("-n", "-C", "-c", "3", "-t", "15", "-f", script.name,
                                      user=user, dbname="shared")
                processed, failed = h.pgbench_counts(self, proc)
                self.assertEqual((processed, failed), (45, 0))
            with console(pooler) as admin:
                pools = rows_for(admin, "POOLS", "shared")
                self.assertEqual([p["user"] for p in pools], ["md5user"], pools)
                stats = [s for s in h.show(admin, "STATS")[1] if s["database"] == "shared"]
                # pgbench -C: a login per transaction (and maybe one to start with).
                self.assertGreaterEqual(stats[0]["total_client_login_count"], 90, stats)
            backends = isolated_db.db_backends(self.db)
            self.assertLessEqual(len(backends), 2, backends)
            self.assertEqual({user for _, user, _, _ in backends}, {"md5user"})


class AuthAny(isolated_db.Case, RefusalCase):
    db_prefix, case_limit = "anyauth", 150

    def test_any_name_logs_in_without_a_password_as_the_forced_user(self):
        settings = {"auth_type": "any", "pool_mode": "transaction", "admin_users": "scramuser"}
        databases = {"app": forced_line(self.db, "scramuser")}
        # Nobody in auth_file but the console's admin: any name is let in.
        with Pooler(settings, databases=databases, users=[]) as pooler:
            with RawClient(pooler.port) as client:
                client.login("nobody-in-particular", "app")
                self.assertEqual(client.auth_method, "trust")
                self.assertEqual(client.query("SELECT current_user"), [["scramuser"]])
            proc = pooler.psql("SELECT current_user", user="someone_else", dbname="app",
                               password="")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), "scramuser")
            with pooler.connect("third", dbname="app", password="") as conn, \
                    console(pooler) as admin:
                self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)
                pools = rows_for(admin, "POOLS", "app")
                self.assertEqual([(p["user"], p["cl_active"]) for p in pools], [("scramuser", 1)])

    def test_a_database_without_forced_user_refuses_its_logins_as_a_config_error(self):
        settings = {"auth_type": "any", "admin_users": "scramuser"}
        databases = {"app": forced_line(self.db, "scramuser"),
                     "open": isolated_db.db_line(self.db)}
        with Pooler(settings, databases=databases) as pooler:
            self.assertRegex(pooler.log(), r"warning: open: auth_type=any ignores the client's "
                                           r"user name, so every database needs a forced user")
            error, port, rest = refused(pooler, "scramuser", "open")
            self.assertEqual((error.sqlstate, error.message),
                             ("08P01", "bouncer config error"))
            self.assertEqual(rest, b"")
            self.assert_one_line(pooler, port, "bouncer config error")
            with RawClient(pooler.port) as client:
                client.login("scramuser", "app")
                self.assertEqual(client.query("SELECT 7"), [["7"]])


class AutoDatabase(isolated_db.Case):
    db_prefix, case_limit = "autodb", 150

    def settings(self, **more):
        return {"auth_type": "scram-sha-256", "pool_mode": "transaction",
                "admin_users": "scramuser", "autodb_idle_timeout": 1, **more}

    def test_an_unlisted_database_is_listed_while_used_and_forgotten_once_idle(self):
        databases = {"*": f"host={h.HOST} port={h.pg_port()} pool_size=3",
                     "itest": isolated_db.db_line("itest")}
        with Pooler(self.settings(), databases=databases) as pooler, console(pooler) as admin:
            self.assertEqual(rows_for(admin, "DATABASES", "*"), [])
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")
                row = rows_for(admin, "DATABASES", self.db)
                self.assertEqual(len(row), 1, h.show(admin, "DATABASES")[1])
                self.assertEqual((row[0]["host"], row[0]["port"], row[0]["database"],
                                  row[0]["pool_size"], row[0]["force_user"]),
                                 (h.HOST, h.pg_port(), self.db, 3, None))
                self.assertEqual(len(rows_for(admin, "POOLS", self.db)), 1)
                # Held by a client, it stays however long the timeout has passed.
                time.sleep(2.5)
                conn.execute("SELECT 2")
                self.assertEqual(len(rows_for(admin, "DATABASES", self.db)), 1)
                self.assertEqual(len(isolated_db.db_backends(self.db)), 1)
            h.wait_until(lambda: not rows_for(admin, "DATABASES", self.db), timeout=15,
                         message="the auto-database to leave SHOW DATABASES")
            self.assertEqual(rows_for(admin, "POOLS", self.db), [])
            self.assertEqual([s for s in h.show(admin, "STATS")[1] if s["database"] == self.db],
                             [])
            # Its server was closed with it; the configured database was kept.
            h.wait_until(lambda: not isolated_db.db_backends(self.db), timeout=10,
                         message="the auto-database's server to close")
            self.assertEqual(len(rows_for(admin, "DATABASES", "itest")), 1)
            self.assertRegex(pooler.log(), rf"auto-database {self.db} removed after "
                                           r"autodb_idle_timeout \(1s\) without clients; 1 server")
            # Asked for again, it is registered again.
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 3").fetchone()[0], 3)
            self.assertEqual(len(rows_for(admin, "DATABASES", self.db)), 1)
            self.assertEqual(
                pooler.log().count(f"registered new auto-database: db={self.db}"), 2)

    def test_the_star_entrys_forced_user_serves_every_auto_database(self):
        databases = {"*": f"host={h.HOST} port={h.pg_port()} user=plainuser "
                          f"password={h.password('plainuser')}"}
        with Pooler(self.settings(autodb_idle_timeout=3600), databases=databases) as pooler, \
                console(pooler) as admin:
            for user in ("scramuser", "md5user"):
                with pooler.connect(user, dbname=self.db) as conn:
                    self.assertEqual(conn.execute("SELECT current_user").fetchone()[0],
                                     "plainuser")
            self.assertEqual([p["user"] for p in rows_for(admin, "POOLS", self.db)],
                             ["plainuser"])
            row = rows_for(admin, "DATABASES", self.db)
            self.assertEqual(row[0]["force_user"], "plainuser")

    def test_a_disabled_auto_database_refuses_logins(self):
        databases = {"*": f"host={h.HOST} port={h.pg_port()}"}
        with Pooler(self.settings(autodb_idle_timeout=3600), databases=databases) as pooler, \
                console(pooler) as admin:
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")
            admin.execute(f"DISABLE {self.db}")
            self.assertEqual(rows_for(admin, "DATABASES", self.db)[0]["disabled"], 1)
            error, _, _ = refused(pooler, "scramuser", self.db, h.password("scramuser"))
            self.assertEqual((error.sqlstate, error.message),
                             ("55000", f'database "{self.db}" is disabled'))
            with self.assertRaises(psycopg.OperationalError) as caught:
                self.connect(pooler).close()
            self.assertIn(f'database "{self.db}" is disabled', str(caught.exception))
            admin.execute(f"ENABLE {self.db}")
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 4").fetchone()[0], 4)


class Refusals(RefusalCase):
    def test_a_missing_database_after_the_right_password(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            error, port, rest = refused(pooler, "scramuser", "nosuchdb", h.password("scramuser"))
            self.assertEqual((error.sqlstate, error.message),
                             ("3D000", "no such database: nosuchdb"))
            self.assertEqual(rest, b"")
            self.assert_one_line(pooler, port, "no such database: nosuchdb")
            proc = pooler.psql("SELECT 1", dbname="nosuchdb")
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("no such database: nosuchdb", proc.stderr)

    def test_a_user_missing_from_auth_file_with_trust(self):
        users = [("scramuser", h.password("scramuser"))]
        with Pooler({"auth_type": "trust"}, users=users) as pooler:
            error, port, rest = refused(pooler, "ghost", "itest")
            self.assertEqual((error.sqlstate, error.message), ("28000", "no such user: ghost"))
            self.assertEqual(rest, b"")
            self.assert_one_line(pooler, port, "no such user: ghost")
            with self.assertRaises(psycopg.OperationalError) as caught:
                pooler.connect("ghost", password="").close()
            self.assertIn("no such user: ghost", str(caught.exception))
            self.assertEqual(pooler.psql("SELECT 1", password="").returncode, 0)

    def test_a_user_missing_from_auth_file_with_a_password_looks_like_a_wrong_password(self):
        with Pooler({"auth_type": "scram-sha-256"}) as pooler:
            error, _, _ = refused(pooler, "ghost", "itest", "whatever")
            self.assertEqual((error.sqlstate, error.message),
                             ("28P01", "SASL authentication failed"))
            wrong, _, _ = refused(pooler, "scramuser", "itest", "whatever")
            self.assertEqual((wrong.sqlstate, wrong.message), (error.sqlstate, error.message))

    def test_a_disabled_database_after_the_right_password(self):
        settings = {"auth_type": "scram-sha-256", "admin_users": "scramuser"}
        with Pooler(settings) as pooler, console(pooler) as admin:
            admin.execute("DISABLE itest")
            error, port, rest = refused(pooler, "md5user", "itest", h.password("md5user"))
            self.assertEqual((error.sqlstate, error.message),
                             ("55000", 'database "itest" is disabled'))
            self.assertEqual(rest, b"")
            self.assert_one_line(pooler, port, 'database "itest" is disabled')
            admin.execute("ENABLE itest")
            self.assertEqual(pooler.psql("SELECT 5", user="md5user").stdout.strip(), "5")


class AuthFileReload(unittest.TestCase):
    def setUp(self):
        h.arm_case_alarm(self, 150)

    def write_users(self, pooler, users):
        tmp = pooler.auth_file + ".new"
        with open(tmp, "w", encoding="utf-8") as f:
            for user, secret in users:
                f.write(f'"{user}" "{secret}"\n')
        os.replace(tmp, pooler.auth_file)

    def login_works(self, pooler, user, password):
        try:
            with RawClient(pooler.port) as client:
                client.login(user, "itest", password)
                return client.query("SELECT 1") == [["1"]]
        except h.PgError as e:
            if e.sqlstate != "28P01":
                raise
            return False

    def test_reload_and_sighup_apply_auth_file_changes_to_the_next_logins(self):
        # Servers log in as the forced user, so auth_file decides only who may log in.
        settings = {"auth_type": "scram-sha-256", "admin_users": "scramuser"}
        databases = {"itest": forced_line("itest", "scramuser")}
        admin_secret = ("scramuser", h.password("scramuser"))
        with Pooler(settings, databases=databases, users=[admin_secret]) as pooler:
            self.assertFalse(self.login_works(pooler, "md5user", "first-secret"))
            # A new user, by RELOAD.
            self.write_users(pooler, [admin_secret, ("md5user", "first-secret")])
            with console(pooler) as admin:
                admin.execute("RELOAD")
            self.assertTrue(self.login_works(pooler, "md5user", "first-secret"))
            held = pooler.connect("md5user", dbname="itest", password="first-secret")
            try:
                # A changed password, by SIGHUP (as a SCRAM verifier this time).
                self.write_users(pooler, [admin_secret,
                                          ("md5user", h.scram_secret("second-secret"))])
                pooler.send_signal(signal.SIGHUP)
                h.wait_until(lambda: not self.login_works(pooler, "md5user", "first-secret"),
                             message="the old password to stop working after SIGHUP")
                self.assertTrue(self.login_works(pooler, "md5user", "second-secret"))
                proc = pooler.psql("SELECT current_user", user="md5user",
                                   password="second-secret")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                # A removed user, by RELOAD; a client already in stays.
                self.write_users(pooler, [admin_secret])
                with console(pooler) as admin:
                    admin.execute("RELOAD")
                self.assertFalse(self.login_works(pooler, "md5user", "second-secret"))
                self.assertEqual(held.execute("SELECT 6").fetchone()[0], 6)
            finally:
                held.close()
            self.assertTrue(self.login_works(pooler, "scramuser", h.password("scramuser")))


if __name__ == "__main__":
    h.main()
