#!/usr/bin/python3
"""Timeouts as a client sees them: query_timeout cancels the query on PostgreSQL, tells the client
(57014) and gives the salvaged server to the next client; a storm of long queries on a small pool
ends in bounded time with nothing left running; client_idle_timeout, client_login_timeout,
idle_transaction_timeout, transaction_timeout and query_wait_timeout disconnect exactly the
clients they name; query_wait_notify tells a long waiter why it waits.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

import harness as h
import isolated_db
from harness import Pooler, RawClient
from isolated_db import (BackendWatch, active_with, db_backends, db_pooler, error_text,
                         read_to_close, split_messages)

CASE_LIMIT = 150  # s; a case running longer than this is hung, and fails rather than waits


class Case(isolated_db.Case):
    db_prefix, case_limit = "tmo", CASE_LIMIT

    def assert_healthy(self, pooler):
        """A normal query through this pooler, to this case's database, still works."""
        proc = pooler.psql("SELECT 40 + 2", dbname=self.db, timeout=30)
        self.assertEqual(proc.returncode, 0, f"psql after the abuse failed: {proc.stderr}")
        self.assertEqual(proc.stdout.strip(), "42")
        self.assertTrue(pooler.alive(), "pooler is not running")

    def wait_no_active(self, marker, timeout=10):
        h.wait_until(lambda: not active_with(self.db, marker), timeout=timeout,
                     message=f"the query {marker} to stop running on PostgreSQL "
                             f"(still: {active_with(self.db, marker)})")


class QueryTimeout(Case):
    def test_long_query_is_cancelled_and_its_server_reused(self):
        for mode in ("session", "transaction"):
            with self.subTest(pool_mode=mode):
                settings = {"pool_mode": mode, "default_pool_size": 1, "query_timeout": 1,
                            "query_wait_timeout": 30}
                with db_pooler(self.db, settings) as pooler:
                    marker = h.unique_name("qt_sleep")
                    # A raw client, to see the SQLSTATE: libpq reports an error followed by EOF
                    # as "consuming input failed" and drops the fields.
                    with self.login(pooler) as client:
                        first_pid = int(client.query("SELECT pg_backend_pid()")[0][0])
                        start = time.monotonic()
                        client.send_query(f"SELECT pg_sleep(30) /* {marker} */")
                        data, _ = read_to_close(client.sock, timeout=15)
                        waited = time.monotonic() - start
                    messages = split_messages(data)
                    errors = [h.error_fields(p) for k, p in messages if k == b"E"]
                    self.assertTrue(errors, f"no ErrorResponse before the close: {data[:300]!r}")
                    self.assertIn("query_timeout", errors[0].get("M", ""), errors[0])
                    self.assertEqual(errors[0].get("C"), "57014", errors[0])
                    self.assertGreater(waited, 0.5, "the error came before query_timeout")
                    self.assertLess(waited, 10, f"query_timeout=1 answered after {waited:.1f} s")
                    # The pooler cancelled the query on PostgreSQL, not just the client.
                    self.wait_no_active(marker, timeout=5)
                    # The salvaged server serves the next client: still one backend, same pid.
                    with self.connect(pooler) as conn:
                        row = conn.execute("SELECT pg_backend_pid(), 42").fetchone()
                    self.assertEqual(row[1], 42)
                    backends = db_backends(self.db)
                    self.assertLessEqual(len(backends), 1, f"backends: {backends}")
                    self.assertEqual(row[0], first_pid,
                                     "the cancelled server was not reused for the next client "
                                     f"(pid {first_pid} before, {row[0]} after)")

    def test_timeout_inside_a_transaction_rolls_it_back(self):
        table = self.make_table()
        for mode in ("session", "transaction"):
            with self.subTest(pool_mode=mode):
                settings = {"pool_mode": mode, "default_pool_size": 1, "query_timeout": 1,
                            "query_wait_timeout": 30}
                with db_pooler(self.db, settings) as pooler:
                    marker = h.unique_name("qt_txn")
                    with self.connect(pooler) as conn:
                        conn.execute("BEGIN")
                        conn.execute(f"INSERT INTO {table} VALUES (1)")
                        with self.assertRaises(psycopg.Error) as caught:
                            conn.execute(f"SELECT pg_sleep(30) /* {marker} */")
                    # psycopg sees the pooler's FATAL then EOF: the text, not the SQLSTATE.
                    self.assertIn("query_timeout", error_text(caught.exception))
                    self.wait_no_active(marker, timeout=5)
                    with self.connect(pooler) as conn:
                        row = conn.execute("SELECT now() = statement_timestamp(), "
                                           "txid_current_if_assigned()").fetchone()
                    self.assertEqual(row, (True, None),
                                     "the next client's server is still inside the timed-out "
                                     "transaction")
                    self.assertEqual(self.count_rows(table), 0,
                                     "the timed-out transaction's insert was committed")

    def test_storm_of_long_queries_on_a_small_pool(self):
        # 200 clients run a 60 s query against 10 servers: query_timeout and query_wait_timeout
        # must end every one of them in bounded time, and nothing may be left on PostgreSQL.
        clients = 200
        settings = {"pool_mode": "transaction", "default_pool_size": 10, "query_timeout": 2,
                    "query_wait_timeout": 5, "max_client_conn": 500}
        marker = h.unique_name("storm")
        with db_pooler(self.db, settings) as pooler, BackendWatch(self.db) as watch:
            with ThreadPoolExecutor(max_workers=20) as pool:
                conns = list(pool.map(lambda _: self.connect(pooler, connect_timeout=30),
                                      range(clients)))
            go = threading.Event()
            results = [None] * clients

            def run(i):
                go.wait(timeout=60)
                start = time.monotonic()
                try:
                    conns[i].execute(f"SELECT pg_sleep(60) /* {marker} */")
                    outcome = "result"
                except psycopg.Error as e:
                    outcome = e
                results[i] = (time.monotonic() - start, outcome)

            threads = [threading.Thread(target=run, args=(i,), daemon=True)
                       for i in range(clients)]
            for t in threads:
                t.start()
            start = time.monotonic()
            go.set()
            for t in threads:
                t.join(timeout=max(0.1, start + 40 - time.monotonic()))
            total = time.monotonic() - start
            for c in conns:
                c.close()
            hung = [i for i, r in enumerate(results) if r is None]
            latencies = [r[0] for r in results if r is not None]
            max_latency = max(latencies) if latencies else float("nan")
            kinds = {}
            for r in results:
                if r is not None:
                    text = "result" if r[1] == "result" else error_text(r[1])
                    key = next((k for k in ("result", "query_wait_timeout", "query_timeout")
                                if k in text), text[:120])
                    kinds[key] = kinds.get(key, 0) + 1
            print(f"\n  storm: {clients} clients done in {total:.1f} s, max latency "
                  f"{max_latency:.1f} s, outcomes {kinds}", file=sys.stderr)
            self.assertEqual(hung, [], f"{len(hung)} clients had no answer after 40 s; "
                                       f"outcomes {kinds}")
            self.assertLess(max_latency, 20, f"a client waited {max_latency:.1f} s; outcomes "
                                             f"{kinds}")
            for r in results:
                if r[1] != "result":
                    text = error_text(r[1])
                    self.assertTrue("query_timeout" in text or "query_wait_timeout" in text,
                                    f"unexpected error: {text}; outcomes {kinds}")
            self.wait_no_active(marker, timeout=10)
            # A fresh client is served at once: the pool is not wedged by the storm.
            fresh_start = time.monotonic()
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 7").fetchone()[0], 7)
            fresh = time.monotonic() - fresh_start
            self.assertLess(fresh, 10, f"a fresh client waited {fresh:.1f} s after the storm")
        watch.check()
        self.assertGreater(watch.max, 0, "the monitor never saw the pool")
        self.assertLessEqual(watch.max, 10, f"PostgreSQL saw {watch.max} backends for a pool "
                                            f"of 10 ({watch.samples} samples)")


class ClientIdleTimeout(Case):
    def test_idle_client_is_dropped_and_busy_client_is_not(self):
        settings = {"pool_mode": "transaction", "client_idle_timeout": 1}
        with db_pooler(self.db, settings) as pooler:
            idle = self.login(pooler)
            self.assertEqual(idle.query("SELECT 1"), [["1"]])
            with self.connect(pooler) as idle_psycopg, self.connect(pooler) as busy:
                idle_psycopg.execute("SELECT 1")
                # The busy client runs a query every 0.2 s for 3 s, three times the timeout.
                deadline = time.monotonic() + 3
                count = 0
                while time.monotonic() < deadline:
                    count += 1
                    self.assertEqual(busy.execute("SELECT %s::int", (count,)).fetchone()[0],
                                     count)
                    time.sleep(0.2)
                # The idle raw client was told why (or at least closed) while the busy one ran.
                data, _ = read_to_close(idle.sock, timeout=10)
                messages = split_messages(data)
                if messages:
                    kind, payload = messages[0]
                    self.assertEqual(kind, b"E", f"expected an ErrorResponse, got {data[:200]!r}")
                    fields = h.error_fields(payload)
                    self.assertIn("client_idle_timeout", fields.get("M", ""), fields)
                idle.close()
                # The idle psycopg client finds its connection gone.
                with self.assertRaises(psycopg.Error) as caught:
                    idle_psycopg.execute("SELECT 1")
                self.assertTrue(isinstance(caught.exception, psycopg.OperationalError)
                                or "client_idle_timeout" in error_text(caught.exception),
                                error_text(caught.exception))
                # The busy client is still connected.
                self.assertEqual(busy.execute("SELECT 99").fetchone()[0], 99)
            self.assert_healthy(pooler)


class ClientLoginTimeout(Case):
    def test_silent_and_half_logged_in_sockets_are_closed(self):
        settings = {"client_login_timeout": 1}
        with db_pooler(self.db, settings) as pooler:
            with self.connect(pooler) as logged_in:
                silent = pooler.raw_socket(timeout=15)
                partial = pooler.raw_socket(timeout=15)
                partial.sendall(h.startup_packet("scramuser", self.db)[:6])
                no_password = pooler.raw_socket(timeout=15)
                no_password.sendall(h.startup_packet("scramuser", self.db))
                sockets = {"silent": silent, "partial startup packet": partial,
                           "startup but no password": no_password}
                outcomes, threads = {}, []

                def watch(name, sock):
                    try:
                        outcomes[name] = read_to_close(sock, timeout=10)
                    except Exception as e:  # noqa: BLE001 - asserted below
                        outcomes[name] = e

                start = time.monotonic()
                for name, sock in sockets.items():
                    threads.append(threading.Thread(target=watch, args=(name, sock)))
                    threads[-1].start()
                for t in threads:
                    t.join(timeout=30)
                for sock in sockets.values():
                    sock.close()
                for name in sockets:
                    with self.subTest(socket=name):
                        outcome = outcomes.get(name)
                        self.assertIsNotNone(outcome, "the reader thread did not finish")
                        if isinstance(outcome, Exception):
                            raise outcome
                        data, elapsed = outcome
                        self.assertGreater(elapsed, 0.5, f"closed after only {elapsed:.2f} s")
                        self.assertLess(elapsed, 10)
                        messages = split_messages(data)
                        if name == "startup but no password":
                            self.assertTrue(messages and messages[0][0] == b"R",
                                            f"expected an authentication request: {data[:200]!r}")
                            messages = messages[1:]
                        for kind, payload in messages:
                            self.assertEqual(kind, b"E", f"unexpected message {kind!r} before "
                                                         f"the close: {data[:200]!r}")
                            self.assertIn("client_login_timeout",
                                          h.error_fields(payload).get("M", ""))
                print(f"\n  login timeout closed all three in {time.monotonic() - start:.1f} s",
                      file=sys.stderr)
                # A logged-in client is not subject to the login timeout.
                self.assertEqual(logged_in.execute("SELECT 5").fetchone()[0], 5)
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 6").fetchone()[0], 6)
            self.assert_healthy(pooler)


class IdleTransactionTimeout(Case):
    def test_idle_transaction_is_ended_and_rolled_back(self):
        table = self.make_table()
        settings = {"pool_mode": "transaction", "default_pool_size": 1,
                    "idle_transaction_timeout": 1, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            client = self.login(pooler)
            client.query("BEGIN")
            client.query(f"INSERT INTO {table} VALUES (1)")
            self.assertEqual(client.transaction_status, b"T")
            data, elapsed = read_to_close(client.sock, timeout=10)
            client.close()
            messages = split_messages(data)
            self.assertTrue(messages, f"closed without an ErrorResponse after {elapsed:.1f} s")
            kind, payload = messages[0]
            self.assertEqual(kind, b"E", f"expected an ErrorResponse, got {data[:200]!r}")
            fields = h.error_fields(payload)
            self.assertIn("idle transaction timeout", fields.get("M", ""), fields)
            self.assertEqual(fields.get("C"), "25P03", fields)
            self.assertGreater(elapsed, 0.5)
            # Nothing of the transaction survives: no open transaction, no committed row.
            h.wait_until(lambda: not [b for b in db_backends(self.db)
                                      if (b[2] or "").startswith("idle in transaction")],
                         timeout=5, message="the idle transaction to end on PostgreSQL")
            self.assertEqual(self.count_rows(table), 0, "the abandoned insert was committed")
            # The pool's only server serves the next client, outside any transaction.
            with self.connect(pooler) as conn:
                row = conn.execute("SELECT txid_current_if_assigned(), 1").fetchone()
            self.assertEqual(row, (None, 1))


class QueryWaitTimeout(Case):
    def test_waiter_behind_a_held_server_gets_the_error(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 1}
        with db_pooler(self.db, settings) as pooler:
            with self.connect(pooler) as holder:
                holder.execute("BEGIN")
                holder.execute("SELECT 1")
                # psycopg: the error text.
                with self.connect(pooler) as waiter:
                    start = time.monotonic()
                    with self.assertRaises(psycopg.Error) as caught:
                        waiter.execute("SELECT 2")
                    waited = time.monotonic() - start
                self.assertIn("query_wait_timeout", error_text(caught.exception))
                self.assertGreater(waited, 0.5, "it did not wait for the server")
                self.assertLess(waited, 10, f"query_wait_timeout=1 answered after {waited:.1f} s")
                # A raw client: the SQLSTATE too.
                with self.login(pooler) as raw:
                    raw.send_query("SELECT 3")
                    data, waited = read_to_close(raw.sock, timeout=10)
                errors = [h.error_fields(p) for k, p in split_messages(data) if k == b"E"]
                self.assertTrue(errors, f"no ErrorResponse before the close: {data[:300]!r}")
                self.assertIn("query_wait_timeout", errors[0].get("M", ""), errors[0])
                self.assertEqual(errors[0].get("C"), "08P01", errors[0])
                self.assertEqual(holder.execute("SELECT 3").fetchone()[0], 3)
                holder.execute("COMMIT")
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 4").fetchone()[0], 4)


class TransactionTimeout(Case):
    """transaction_timeout (PgBouncer 1.25): a transaction open longer than this ends its
    client with PgBouncer's "transaction timeout" and PostgreSQL 17's SQLSTATE 25P04, whether it
    sits idle or runs a query; its server is rolled back and serves the next client."""

    def expect_timeout(self, client, timeout=10):
        data, elapsed = read_to_close(client.sock, timeout=timeout)
        client.close()
        errors = [h.error_fields(p) for k, p in split_messages(data) if k == b"E"]
        self.assertTrue(errors, f"closed without an ErrorResponse after {elapsed:.1f} s: "
                                f"{data[:300]!r}")
        self.assertEqual(errors[0].get("M"), "transaction timeout", errors[0])
        self.assertEqual(errors[0].get("C"), "25P04", errors[0])
        return elapsed

    def server_pid(self, pooler):
        with self.connect(pooler) as conn:
            row = conn.execute("SELECT pg_backend_pid(), txid_current_if_assigned()").fetchone()
        self.assertIsNone(row[1], "the next client found a transaction open")
        return row[0]

    def test_idle_and_busy_transactions_end_and_the_server_is_reused(self):
        table = self.make_table()
        settings = {"pool_mode": "transaction", "default_pool_size": 1,
                    "transaction_timeout": 1, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            pid = self.server_pid(pooler)
            # Idle in its transaction, with a row inserted.
            client = self.login(pooler)
            client.query("BEGIN")
            client.query(f"INSERT INTO {table} VALUES (1)")
            self.assertGreater(self.expect_timeout(client), 0.5)
            self.assertEqual(self.server_pid(pooler), pid)
            self.assertEqual(self.count_rows(table), 0, "the abandoned insert was committed")
            # Running a query that would outlast it: cancelled, then reused.
            client = self.login(pooler)
            client.send_query("SELECT pg_sleep(30) /* tt-marker */")
            self.assertLess(self.expect_timeout(client, timeout=20), 15)
            self.wait_no_active("tt-marker")
            self.assertEqual(self.server_pid(pooler), pid)
            # Idle outside a transaction for longer than the timeout: nothing happens.
            with self.connect(pooler) as conn:
                time.sleep(1.6)
                self.assertEqual(conn.execute("SELECT 5").fetchone()[0], 5)
            self.assert_healthy(pooler)

    def test_session_mode_times_a_lone_statement_and_users_override(self):
        # Global off, trustuser's [users] value on: only trustuser is timed.
        settings = {"pool_mode": "session", "default_pool_size": 2, "query_wait_timeout": 30}
        pooler = Pooler(settings, databases={self.db: isolated_db.db_line(self.db)},
                        user_settings={"trustuser": "transaction_timeout=1"})
        with pooler:
            timed = RawClient(pooler.port, timeout=15)
            timed.login("trustuser", self.db, h.password("trustuser"))
            timed.send_query("SELECT pg_sleep(30) /* tt-session */")
            self.assertLess(self.expect_timeout(timed, timeout=20), 15)
            self.wait_no_active("tt-session")
            with self.connect(pooler) as conn:
                conn.execute("BEGIN")
                time.sleep(1.6)
                self.assertEqual(conn.execute("SELECT 6").fetchone()[0], 6)
                conn.execute("COMMIT")


class QueryWaitNotify(Case):
    """query_wait_notify: a client that has waited that long for a server is told so with
    PgBouncer's NOTICE, once per wait, on every later wait again; a short wait is not."""

    NOTICE = "No server connection available in postgres backend, client being queued"

    def test_notice_once_per_long_wait(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 1,
                    "query_wait_notify": 1, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            notices = []
            with self.connect(pooler) as waiter:
                waiter.add_notice_handler(lambda d: notices.append(d.message_primary))
                self.assertEqual(waiter.execute("SELECT 1").fetchone()[0], 1)
                self.assertEqual(notices, [], "a wait shorter than query_wait_notify notified")
                for round_ in (1, 2):
                    with self.connect(pooler) as holder:
                        holder.execute("BEGIN")
                        holder.execute("SELECT 1")
                        release = threading.Timer(2.5, lambda: holder.execute("COMMIT"))
                        release.start()
                        try:
                            self.assertEqual(waiter.execute("SELECT 2").fetchone()[0], 2)
                        finally:
                            release.join()
                    self.assertEqual(notices, [self.NOTICE] * round_, notices)

    def test_zero_turns_it_off(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 1,
                    "query_wait_notify": 0, "query_wait_timeout": 30}
        with db_pooler(self.db, settings) as pooler:
            notices = []
            with self.connect(pooler) as holder, self.connect(pooler) as waiter:
                waiter.add_notice_handler(lambda d: notices.append(d.message_primary))
                holder.execute("BEGIN")
                holder.execute("SELECT 1")
                release = threading.Timer(1.5, lambda: holder.execute("COMMIT"))
                release.start()
                try:
                    self.assertEqual(waiter.execute("SELECT 2").fetchone()[0], 2)
                finally:
                    release.join()
            self.assertEqual(notices, [])


if __name__ == "__main__":
    h.main()
