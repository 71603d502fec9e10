#!/usr/bin/python3
"""Per-user ([users]) and per-database ([databases]) settings over the global ones, as PgBouncer
orders them: the user's value, else the database's, else [pooler]'s. Each case sets all the
levels it can at once, checks that the most specific one wins on the data path (servers
PostgreSQL sees, errors a client gets, a pool's mode in SHOW POOLS), then rewrites the file,
RELOADs, and checks that live pools and connected clients follow the new values.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import threading
import time

import psycopg

import harness as h
import isolated_db
from harness import Pooler
from isolated_db import BackendWatch, db_backends, db_line, error_text, run_concurrently

CASE_LIMIT = 150  # s; a case running longer than this is hung, and fails rather than waits
ADMIN = "scramuser"
BASE = {"pool_mode": "transaction", "default_pool_size": 10, "admin_users": ADMIN,
        "query_wait_timeout": 30}


class Case(isolated_db.Case):
    db_prefix, case_limit = "ovr", CASE_LIMIT

    def start(self, settings=None, db_options=None, user_settings=None, databases=None):
        databases = {self.db: db_line(self.db, **(db_options or {})), **(databases or {})}
        return Pooler({**BASE, **(settings or {})}, databases=databases,
                      user_settings=user_settings or {})

    def reload(self, pooler, settings=None, db_options=None, user_settings=None):
        """Rewrites whatever is given (a level left out stays as it was) and RELOADs."""
        if settings is not None:
            pooler.settings = {**BASE, **settings}
        if db_options is not None:
            pooler.databases = {**pooler.databases, self.db: db_line(self.db, **db_options)}
        if user_settings is not None:
            pooler.user_settings = dict(user_settings)
        pooler.write_config()
        with pooler.connect(ADMIN, dbname="pgbouncer") as admin:
            admin.execute("RELOAD")

    def user(self, pooler, user, **kwargs):
        return pooler.connect(user, dbname=self.db, prepare_threshold=None, **kwargs)

    def peak(self, pooler, user, clients, sql="SELECT pg_sleep(0.8), 1"):
        """The most servers of `user` PostgreSQL saw while `clients` clients ran sql at once."""
        with BackendWatch(self.db) as watch:
            results, _ = run_concurrently(pooler, self.db, [user] * clients, sql)
        watch.check()
        failed = [r for _, r in results if r != ("", 1)]
        self.assertEqual(failed, [], f"{len(failed)} of {clients} {user} clients failed")
        return watch.max_by_user.get(user, 0)

    def pool_modes(self, pooler):
        with pooler.connect(ADMIN, dbname="pgbouncer") as admin:
            return {(r["database"], r["user"]): r["pool_mode"]
                    for r in h.show(admin, "POOLS")[1] if r["database"] != "pgbouncer"}


class PoolMode(Case):
    def test_user_over_database_over_global_and_reload(self):
        other = h.create_database(prefix="ovr_other")
        self.addCleanup(h.drop_database, other)
        with self.start({"pool_mode": "session"}, {"pool_mode": "transaction"},
                        {"md5user": "pool_mode=statement"},
                        databases={other: db_line(other)}) as pooler:
            for user, db in (("scramuser", self.db), ("md5user", self.db), ("scramuser", other)):
                with pooler.connect(user, dbname=db) as c:
                    c.execute("SELECT 1")
            self.assertEqual(self.pool_modes(pooler), {
                (self.db, "scramuser"): "transaction",  # the database's
                (self.db, "md5user"): "statement",  # the user's, over the database's
                (other, "scramuser"): "session",  # the global one
            })
            # The data path follows the same mode: statement mode refuses a transaction block.
            with self.user(pooler, "md5user") as c:
                with self.assertRaises(psycopg.Error) as caught:
                    c.execute("BEGIN")
                self.assertIn("transaction blocks not allowed in statement pooling mode",
                              error_text(caught.exception))
            with self.user(pooler, "scramuser") as c:
                c.execute("BEGIN")
                c.execute("COMMIT")

            self.reload(pooler, {"pool_mode": "transaction"}, {},
                        {"md5user": "pool_mode=session"})
            self.assertEqual(self.pool_modes(pooler), {
                (self.db, "scramuser"): "transaction",
                (self.db, "md5user"): "session",
                (other, "scramuser"): "transaction",
            })
            with self.user(pooler, "md5user") as c:
                c.execute("BEGIN")
                self.assertEqual(c.execute("SELECT 2").fetchone()[0], 2)
                c.execute("COMMIT")


class PoolSize(Case):
    def test_user_over_database_over_global_and_reload(self):
        with self.start({"default_pool_size": 1}, {"pool_size": 2},
                        {"md5user": "pool_size=3"}) as pooler:
            self.assertEqual(self.peak(pooler, "md5user", 6), 3, "the user's pool_size=3")
            self.assertEqual(self.peak(pooler, "scramuser", 6), 2, "the database's pool_size=2")
            # Grown only, so that the idle servers already open stay within every new size.
            self.reload(pooler, {"default_pool_size": 4}, {}, {"md5user": "pool_size=5"})
            self.assertEqual(self.peak(pooler, "scramuser", 7), 4, "the global one after RELOAD")
            self.assertEqual(self.peak(pooler, "md5user", 7), 5, "the user's after RELOAD")

    def test_reserve_pool_user_over_database_and_its_old_name(self):
        settings = {"default_pool_size": 1, "reserve_pool_timeout": 0.3}
        with self.start(settings, {"reserve_pool": 1},
                        {"scramuser": "reserve_pool_size=0"}) as pooler:
            slow = "SELECT pg_sleep(1.5), 1"
            self.assertEqual(self.peak(pooler, "md5user", 3, slow), 2,
                             "pool_size 1 plus the database's reserve_pool=1")
            self.assertEqual(self.peak(pooler, "scramuser", 3, slow), 1,
                             "the user's reserve_pool_size=0 over the database's 1")
            self.reload(pooler, user_settings={"scramuser": "reserve_pool_size=2"})
            self.assertEqual(self.peak(pooler, "scramuser", 4, slow), 3,
                             "the user's reserve_pool_size=2 after RELOAD")


class ConnectionLimits(Case):
    def test_max_user_connections_user_over_global_and_reload(self):
        with self.start({"max_user_connections": 1},
                        user_settings={"md5user": "max_user_connections=3"}) as pooler:
            self.assertEqual(self.peak(pooler, "md5user", 5), 3)
            self.assertEqual(self.peak(pooler, "scramuser", 5), 1)
            self.reload(pooler, {"max_user_connections": 2})
            self.assertEqual(self.peak(pooler, "scramuser", 5), 2, "the global one after RELOAD")
            self.assertEqual(self.peak(pooler, "md5user", 5), 3, "the user's stays")

    def test_max_db_connections_database_over_global_and_reload(self):
        with self.start({"max_db_connections": 1}, {"max_db_connections": 2}) as pooler:
            self.assertEqual(self.peak(pooler, "scramuser", 4), 2)
            self.reload(pooler, db_options={"max_db_connections": 3})
            self.assertEqual(self.peak(pooler, "scramuser", 5), 3)


class Timeouts(Case):
    def assert_timed_out(self, conn, seconds, what):
        """conn's pg_sleep(seconds) ends, early, in query_timeout (which closes the client, as
        in PgBouncer)."""
        start = time.monotonic()
        with self.assertRaises(psycopg.Error, msg=what) as caught:
            conn.execute(f"SELECT pg_sleep({seconds})")
        self.assertIn("query_timeout", error_text(caught.exception), what)
        self.assertLess(time.monotonic() - start, seconds, what)

    def test_query_timeout_user_over_global_on_live_connections(self):
        with self.start({"query_timeout": 0},
                        user_settings={"md5user": "query_timeout=1"}) as pooler:
            with self.user(pooler, "md5user") as md5, self.user(pooler, "scramuser") as scram:
                self.assert_timed_out(md5, 4, "md5user's query_timeout=1")
                self.assertEqual(scram.execute("SELECT pg_sleep(1.5), 1").fetchone(), ("", 1))
                # Global on, and the user's 0 turns it off for md5user; scram stays connected
                # through the RELOAD and is timed from then on.
                self.reload(pooler, {"query_timeout": 1},
                            user_settings={"md5user": "query_timeout=0"})
                self.assert_timed_out(scram, 4, "the global query_timeout=1 after RELOAD")
            with self.user(pooler, "md5user") as md5:
                self.assertEqual(md5.execute("SELECT pg_sleep(1.5), 1").fetchone(), ("", 1))

    def wait_result(self, pooler, user, holder_seconds):
        """A holder of the pool's only server keeps it holder_seconds; a second client of the
        same user asks meanwhile. Returns the waiter's result or its error."""
        with self.user(pooler, user) as holder, self.user(pooler, user) as waiter:
            holder.execute("BEGIN")
            holder.execute("SELECT 1")
            release = threading.Timer(holder_seconds, lambda: holder.execute("COMMIT"))
            release.start()
            try:
                return waiter.execute("SELECT 7").fetchone()
            except psycopg.Error as e:
                return e
            finally:
                release.join()

    def test_query_wait_timeout_user_over_database_over_global(self):
        with self.start({"default_pool_size": 1, "query_wait_timeout": 30},
                        {"query_wait_timeout": 1},
                        {"md5user": "query_wait_timeout=20"}) as pooler:
            refused = self.wait_result(pooler, "scramuser", 3)
            self.assertIsInstance(refused, psycopg.Error, "the database's query_wait_timeout=1")
            self.assertIn("query_wait_timeout", error_text(refused))
            self.assertEqual(self.wait_result(pooler, "md5user", 2), (7,),
                             "the user's query_wait_timeout=20 over the database's 1")
            self.reload(pooler, user_settings={"md5user": "query_wait_timeout=1"})
            refused = self.wait_result(pooler, "md5user", 3)
            self.assertIsInstance(refused, psycopg.Error, "the user's value after RELOAD")
            self.assertIn("query_wait_timeout", error_text(refused))

    def assert_ended(self, conn, what, message):
        with self.assertRaises(psycopg.Error, msg=what) as caught:
            conn.execute("SELECT 1")
        self.assertIn(message, error_text(caught.exception), what)

    def test_client_timeouts_user_over_global_on_live_connections(self):
        users = {"md5user": "client_idle_timeout=1",
                 "scramuser": "idle_transaction_timeout=1"}
        with self.start({"client_idle_timeout": 0, "idle_transaction_timeout": 0},
                        user_settings=users) as pooler:
            idle_md5, idle_scram = self.user(pooler, "md5user"), self.user(pooler, "scramuser")
            in_tx_md5, in_tx_scram = self.user(pooler, "md5user"), self.user(pooler, "scramuser")
            in_tx_md5.execute("BEGIN")
            in_tx_scram.execute("BEGIN")
            time.sleep(2.5)
            self.assert_ended(idle_md5, "md5user's client_idle_timeout=1", "client_idle_timeout")
            self.assertEqual(idle_scram.execute("SELECT 2").fetchone()[0], 2)
            self.assert_ended(in_tx_scram, "scramuser's idle_transaction_timeout=1",
                              "idle transaction timeout")
            self.assertEqual(in_tx_md5.execute("SELECT 3").fetchone()[0], 3)
            in_tx_md5.execute("COMMIT")
            # The global value, now on, reaches the connected md5user client.
            self.reload(pooler, {"idle_transaction_timeout": 1})
            in_tx_md5.execute("BEGIN")
            time.sleep(2.5)
            self.assert_ended(in_tx_md5, "the global idle_transaction_timeout=1 after RELOAD",
                              "idle transaction timeout")
            for conn in (idle_md5, idle_scram, in_tx_md5, in_tx_scram):
                conn.close()


class ServerLifetimeAndMinPoolSize(Case):
    def pids(self, pooler, db, seconds):
        """The server pids one client sees over `seconds` of short transactions."""
        seen = set()
        with pooler.connect("scramuser", dbname=db) as c:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                seen.add(c.execute("SELECT pg_backend_pid()").fetchone()[0])
                time.sleep(0.2)
        return seen

    def test_server_lifetime_database_over_global_and_reload(self):
        other = h.create_database(prefix="ovr_other")
        self.addCleanup(h.drop_database, other)
        with self.start({"default_pool_size": 1, "server_lifetime": 3600},
                        {"server_lifetime": 1}, databases={other: db_line(other)}) as pooler:
            self.assertGreaterEqual(len(self.pids(pooler, self.db, 3.5)), 2,
                                    "the database's server_lifetime=1 replaced no server")
            self.assertEqual(len(self.pids(pooler, other, 3.5)), 1,
                             "the global server_lifetime=3600 replaced a server")
            pooler.databases[other] = db_line(other, server_lifetime=1)
            self.reload(pooler)
            self.assertGreaterEqual(len(self.pids(pooler, other, 3.5)), 2,
                                    "server_lifetime=1 after RELOAD replaced no server")

    def test_min_pool_size_database_over_global_and_reload(self):
        with self.start({"min_pool_size": 1}, {"min_pool_size": 2}) as pooler:
            with self.user(pooler, "scramuser") as c:
                c.execute("SELECT 1")
            h.wait_until(lambda: len(db_backends(self.db)) == 2, timeout=10,
                         message="the database's min_pool_size=2")
            self.reload(pooler, db_options={"min_pool_size": 3})
            h.wait_until(lambda: len(db_backends(self.db)) == 3, timeout=10,
                         message="min_pool_size=3 after RELOAD")
            time.sleep(1)
            self.assertEqual(len(db_backends(self.db)), 3)


if __name__ == "__main__":
    h.main()
