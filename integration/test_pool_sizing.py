#!/usr/bin/python3
"""Pool sizing as PostgreSQL sees it: min_pool_size keeps (and refills) idle servers,
reserve_pool_size adds servers only after reserve_pool_timeout and never beyond, max_db_connections
caps a database over all its users' pools, and a [databases] entry's own pool_size,
min_pool_size and max_db_connections override the global ones; max_user_connections caps a user
over databases; server_idle_timeout closes idle servers down to min_pool_size and server_lifetime
replaces old servers, but only between transactions.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import sys
import threading
import time


import harness as h
import isolated_db
from harness import Pooler
from isolated_db import (BackendWatch, db_backends, db_line, db_pooler, run_concurrently,
                         terminate)

CASE_LIMIT = 150  # s; a case running longer than this is hung, and fails rather than waits


class Case(isolated_db.Case):
    db_prefix, case_limit = "sizing", CASE_LIMIT

    def assert_all_answered(self, results, expect):
        failures = [(u, r) for u, r in results if isinstance(r, Exception) or r != expect]
        self.assertEqual(failures, [], f"{len(failures)} of {len(results)} clients failed")

    def wait_for_backends(self, at_least, timeout, what):
        start = time.monotonic()
        rows = h.wait_until(lambda: (lambda r: r if len(r) >= at_least else None)(
            db_backends(self.db)), timeout=timeout, interval=0.1,
            message=f"{at_least} backends ({what}); now {len(db_backends(self.db))}")
        print(f"\n  {what}: {len(rows)} backends after {time.monotonic() - start:.1f} s",
              file=sys.stderr)
        return rows


class MinPoolSize(Case):
    def test_min_pool_size_is_kept_and_refilled(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 5, "min_pool_size": 3}
        with db_pooler(self.db, settings) as pooler, BackendWatch(self.db) as watch:
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)
            first = self.wait_for_backends(3, 10, "after one client came and went")
            time.sleep(1)
            self.assertLessEqual(len(db_backends(self.db)), 5)
            killed = [r[0] for r in first]
            terminate(killed)
            h.wait_until(lambda: not set(killed) & {r[0] for r in db_backends(self.db)},
                         timeout=10, message="the terminated backends to exit")
            again = self.wait_for_backends(3, 10, "after pg_terminate_backend")
            self.assertFalse(set(killed) & {r[0] for r in again})
            self.assertTrue(all(r[1] == "scramuser" for r in again), again)
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 2").fetchone()[0], 2)
        watch.check()
        self.assertLessEqual(watch.max, 5, f"more backends than default_pool_size: {watch.max}")

    def test_forced_user_pool_is_filled_before_any_client(self):
        # PgBouncer's rule: only a database with a forced user has a pool without clients.
        settings = {"pool_mode": "transaction", "default_pool_size": 5}
        other = h.create_database(prefix="sizing_noforce")
        self.addCleanup(h.drop_database, other)
        databases = {self.db: isolated_db.db_line(self.db, user="md5user", min_pool_size=2),
                     other: isolated_db.db_line(other, min_pool_size=2)}
        with Pooler(settings, databases=databases) as pooler:
            first = self.wait_for_backends(2, 10, "min_pool_size=2 with no client yet")
            self.assertTrue(all(r[1] == "md5user" for r in first), first)
            time.sleep(0.5)
            self.assertEqual(len(db_backends(self.db)), 2, db_backends(self.db))
            self.assertEqual(db_backends(other), [], "a pool was opened without a forced user")
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "md5user")


class ReservePool(Case):
    def test_reserve_opens_after_the_timeout_and_never_beyond(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 2, "reserve_pool_size": 2,
                    "reserve_pool_timeout": 1, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            with BackendWatch(self.db) as watch:
                # Six clients on 2 + 2 servers: the reserve is needed, and it is not enough.
                results, start = run_concurrently(pooler, self.db, ["scramuser"] * 6,
                                                  "SELECT pg_sleep(3), 1")
            watch.check()
            self.assert_all_answered(results, ("", 1))
            print(f"\n  reserve: at most {watch.max} backends; timeline "
                  f"{[(round(t - start, 2), n) for t, n in watch.timeline]}", file=sys.stderr)
            self.assertGreater(watch.max, 2, "the reserve pool never opened")
            self.assertLessEqual(watch.max, 4, f"PostgreSQL saw {watch.max} backends for a pool "
                                               "of 2 with a reserve of 2")
            opened = watch.first_above(2)
            self.assertGreater(opened - start, 0.5,
                               f"the reserve opened {opened - start:.2f} s after the clients "
                               "started queueing, before reserve_pool_timeout=1")


class MaxDbConnections(Case):
    settings = {"pool_mode": "transaction", "default_pool_size": 5, "max_db_connections": 2,
                "query_wait_timeout": 30}

    def test_two_users_share_the_database_limit(self):
        with db_pooler(self.db, self.settings) as pooler, BackendWatch(self.db) as watch:
            results, _ = run_concurrently(pooler, self.db, ["scramuser", "md5user"] * 3,
                                          "SELECT pg_sleep(1), 1")
            self.assert_all_answered(results, ("", 1))
        watch.check()
        print(f"\n  max_db_connections=2: at most {watch.max} backends, per user "
              f"{watch.max_by_user}", file=sys.stderr)
        self.assertLessEqual(watch.max, 2, f"PostgreSQL saw {watch.max} backends for "
                                           f"max_db_connections=2 ({watch.max_by_user})")
        self.assertEqual(set(watch.max_by_user), {"scramuser", "md5user"})

    def test_idle_servers_of_one_user_give_way_to_another(self):
        with db_pooler(self.db, self.settings) as pooler, BackendWatch(self.db) as watch:
            # One user first: its pool ends up holding both servers the database allows, idle.
            results, _ = run_concurrently(pooler, self.db, ["scramuser"] * 3,
                                          "SELECT pg_sleep(1), 1")
            self.assert_all_answered(results, ("", 1))
            self.assertEqual([r[1] for r in db_backends(self.db)], ["scramuser"] * 2)
            # The other user must still be served: an idle server of the first pool has to be
            # closed to make room (PgBouncer evicts one), not kept for server_idle_timeout.
            results, _ = run_concurrently(pooler, self.db, ["md5user"] * 3,
                                          "SELECT pg_sleep(1), 1")
            self.assert_all_answered(results, ("", 1))
        watch.check()
        self.assertLessEqual(watch.max, 2, f"PostgreSQL saw {watch.max} backends for "
                                           f"max_db_connections=2 ({watch.max_by_user})")


class PerDatabaseOverrides(Case):
    def test_database_pool_size_overrides_default_pool_size(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 10, "query_wait_timeout": 30}
        with db_pooler(self.db, settings, pool_size=2) as pooler:
            with BackendWatch(self.db) as watch:
                results, _ = run_concurrently(pooler, self.db, ["scramuser"] * 6,
                                              "SELECT pg_sleep(1), 1")
            watch.check()
            self.assert_all_answered(results, ("", 1))
            self.assertLessEqual(watch.max, 2, f"PostgreSQL saw {watch.max} backends for the "
                                               "database's pool_size=2")
            self.assertEqual(watch.max, 2, "six concurrent clients did not use both servers")

    def test_database_min_pool_size_and_max_db_connections(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 5, "query_wait_timeout": 30}
        with db_pooler(self.db, settings, min_pool_size=2, max_db_connections=3) as pooler:
            with BackendWatch(self.db) as watch:
                with self.connect(pooler) as c:
                    c.execute("SELECT 1")
                self.wait_for_backends(2, 10, "the database's min_pool_size=2")
                results, _ = run_concurrently(pooler, self.db, ["scramuser", "md5user"] * 3,
                                              "SELECT pg_sleep(1), 1")
            watch.check()
            self.assert_all_answered(results, ("", 1))
            self.assertLessEqual(watch.max, 3, f"PostgreSQL saw {watch.max} backends for the "
                                               f"database's max_db_connections=3 "
                                               f"({watch.max_by_user})")


class MaxUserConnections(Case):
    def test_one_user_limited_over_two_databases(self):
        other_db = h.create_database(prefix="sizing_other")
        self.addCleanup(h.drop_database, other_db)
        settings = {"pool_mode": "transaction", "default_pool_size": 5,
                    "max_user_connections": 2, "query_wait_timeout": 30}
        databases = {db: db_line(db) for db in (self.db, other_db)}
        with Pooler(settings, databases=databases) as pooler:
            both = {}

            def load(db):
                both[db] = run_concurrently(pooler, db, ["scramuser"] * 3,
                                            "SELECT pg_sleep(1), 1")[0]

            threads = [threading.Thread(target=load, args=(db,), daemon=True)
                       for db in (self.db, other_db)]
            for t in threads:
                t.start()
            # Sample the sum over both databases while the load runs.
            peak = 0
            with h.superuser_conn("postgres") as c:
                while any(t.is_alive() for t in threads):
                    peak = max(peak, c.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = 'scramuser' "
                        "AND datname = ANY(%s)", ([self.db, other_db],)).fetchone()[0])
                    time.sleep(0.02)
            for t in threads:
                t.join(timeout=60)
            for db in (self.db, other_db):
                self.assertIn(db, both, f"the load on {db} did not finish")
                self.assert_all_answered(both[db], ("", 1))
            print(f"\n  max_user_connections=2: at most {peak} backends over both databases",
                  file=sys.stderr)
            self.assertLessEqual(peak, 2, f"PostgreSQL saw {peak} backends of scramuser for "
                                          "max_user_connections=2")


class ServerIdleTimeoutAndLifetime(Case):
    def test_idle_servers_close_down_to_min_pool_size(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 4, "min_pool_size": 1,
                    "server_idle_timeout": 1, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            results, _ = run_concurrently(pooler, self.db, ["scramuser"] * 4,
                                          "SELECT pg_sleep(0.5), 1")
            self.assert_all_answered(results, ("", 1))
            self.assertGreaterEqual(len(db_backends(self.db)), 3)
            h.wait_until(lambda: len(db_backends(self.db)) == 1, timeout=10, interval=0.1,
                         message="idle servers to close down to min_pool_size=1 "
                                 f"(now {len(db_backends(self.db))})")
            time.sleep(2)  # ... and min_pool_size keeps the last one
            self.assertEqual(len(db_backends(self.db)), 1)
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 3").fetchone()[0], 3)

    def test_server_lifetime_replaces_servers_between_transactions(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 1, "server_lifetime": 1,
                    "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler, BackendWatch(self.db) as watch:
            with self.connect(pooler) as conn:
                # A transaction outliving server_lifetime keeps its server to the end.
                conn.execute("BEGIN")
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                time.sleep(2)
                self.assertEqual(conn.execute("SELECT pg_backend_pid()").fetchone()[0], pid,
                                 "the server was replaced inside a transaction")
                conn.execute("COMMIT")
                # Between transactions an old server is replaced.
                pids = {pid}
                deadline = time.monotonic() + 10
                while len(pids) < 3 and time.monotonic() < deadline:
                    pids.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                    time.sleep(0.3)
            self.assertGreaterEqual(len(pids), 3, f"servers were not replaced after "
                                                  f"server_lifetime=1: pids {pids}")
        watch.check()
        self.assertLessEqual(watch.max, 1, f"PostgreSQL saw {watch.max} backends for a pool of 1")


if __name__ == "__main__":
    h.main()
