#!/usr/bin/python3
"""Faults around the pooler: servers killed while idle or mid-query (pg_terminate_backend, and
SIGKILL on a private cluster of this file's own), PostgreSQL unreachable at start and
stopped/started under load (a private cluster again), clients that vanish
mid-transaction, mid-COPY or while queued, a client that stops reading a huge result, and a
login storm of 2000 clients. In each the pooler must answer with an error rather than hang, leave
nothing open on PostgreSQL, stay within its pool size and keep serving without a restart.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import asyncio
import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psycopg

import harness as h
import isolated_db
from harness import Pooler, RawClient
from isolated_db import (BackendWatch, active_with, db_backends, db_line, db_pooler, error_text,
                         terminate)

CASE_LIMIT = 170  # s; a case running longer than this is hung, and fails rather than waits


def not_idle(db):
    """Backends in db doing anything but waiting idle outside a transaction."""
    return [b for b in db_backends(db) if b[2] != "idle"]


def run_in_thread(fn, *args):
    """Starts fn(*args) on a daemon thread; returns (thread, box) where box gets 'result',
    'error' and 'elapsed' when it finishes."""
    box = {}

    def body():
        start = time.monotonic()
        try:
            box["result"] = fn(*args)
        except Exception as e:  # noqa: BLE001 - inspected by the caller
            box["error"] = e
        box["elapsed"] = time.monotonic() - start

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    return thread, box


class PrivateCluster:
    """A second PostgreSQL 15 of this file's own, trust auth on 127.0.0.1:port, with a role
    scramuser owning the database `dbname`; it can be stopped and started at will."""

    def __init__(self, port, dbname):
        self.port, self.dbname = port, dbname
        self.pg_bin = h.state().get("pg_bin", "/usr/lib/postgresql/15/bin")
        self.top = tempfile.mkdtemp(prefix="pooler-itest-private-pg-", dir="/tmp")
        os.chmod(self.top, 0o755)
        self.data = os.path.join(self.top, "data")
        self.running = False

    def _run(self, argv, timeout=120):
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        proc = subprocess.run(argv, cwd=self.top, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n"
                                 f"{self.logs()}")
        return proc.stdout

    def init(self):
        if os.geteuid() == 0:
            ent = pwd.getpwnam("postgres")
            os.chown(self.top, ent.pw_uid, ent.pw_gid)
        self._run([os.path.join(self.pg_bin, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.top}'
max_connections = 40
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 16MB
""")
        self.start()
        with self.superuser() as c:
            c.execute("CREATE ROLE scramuser LOGIN")
            c.execute(f'CREATE DATABASE "{self.dbname}" OWNER scramuser')

    def start(self):
        self._run([os.path.join(self.pg_bin, "pg_ctl"), "start", "-D", self.data, "-w",
                   "-t", "60", "-l", os.path.join(self.top, "pg.log")])
        self.running = True

    def stop(self, mode="fast"):
        self._run([os.path.join(self.pg_bin, "pg_ctl"), "stop", "-D", self.data, "-m", mode,
                   "-w", "-t", "60"])
        self.running = False

    def superuser(self):
        return psycopg.connect(host=self.top, port=self.port, user="postgres",
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def logs(self):
        path = os.path.join(self.top, "pg.log")
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                return "--- private cluster log\n" + f.read()[-4000:]
        return ""

    def destroy(self):
        try:
            if self.running or os.path.exists(os.path.join(self.data, "postmaster.pid")):
                self.stop("immediate")
        finally:
            shutil.rmtree(self.top, ignore_errors=True)

    def pgbench_init(self):
        argv = ["pgbench", "-i", "-q", "-h", h.HOST, "-p", str(self.port), "-U", "scramuser",
                self.dbname]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PGSSLMODE="disable", PGCONNECT_TIMEOUT="10"))
        if proc.returncode != 0:
            raise AssertionError(f"pgbench -i failed: {proc.stderr}")


class Case(isolated_db.Case):
    db_prefix, case_limit = "fault", CASE_LIMIT

    def private_cluster(self):
        """A running PrivateCluster of the case's own, destroyed at the end: (cluster, port,
        database name)."""
        port, dbname = h.free_port(), "private_db"
        cluster = PrivateCluster(port, dbname)
        self.addCleanup(cluster.destroy)
        cluster.init()
        return cluster, port, dbname


class KilledServers(Case):
    def test_server_killed_while_idle_in_the_pool(self):
        for mode in ("session", "transaction"):
            with self.subTest(pool_mode=mode):
                settings = {"pool_mode": mode, "default_pool_size": 2, "query_wait_timeout": 15}
                with db_pooler(self.db, settings) as pooler:
                    with self.connect(pooler) as conn:
                        conn.execute("SELECT 1")
                    idle = h.wait_until(lambda: [b[0] for b in db_backends(self.db)
                                                 if b[2] == "idle"],
                                        timeout=10, message="an idle server in the pool")
                    terminate(idle)
                    time.sleep(0.5)
                    with self.connect(pooler) as conn:
                        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                        self.assertNotIn(pid, idle, "a terminated backend served the client?")
                        if mode == "transaction":
                            # A client that stays connected across the kill is served too.
                            terminate([pid])
                            time.sleep(0.5)
                            self.assertEqual(conn.execute("SELECT 8").fetchone()[0], 8)

    def test_server_killed_mid_query(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 2, "query_wait_timeout": 15}
        with db_pooler(self.db, settings) as pooler:
            victim_marker = h.unique_name("victim")
            bystander_marker = h.unique_name("bystander")
            victim = self.login(pooler)
            victim.send_query(f"SELECT pg_sleep(30) /* {victim_marker} */")
            with self.connect(pooler) as bystander:
                thread, box = run_in_thread(
                    lambda: bystander.execute(
                        f"SELECT pg_backend_pid(), pg_sleep(3), 'done' /* {bystander_marker} */"
                    ).fetchone())
                target = h.wait_until(lambda: active_with(self.db, victim_marker), timeout=10,
                                      message="the victim's query to run")
                h.wait_until(lambda: active_with(self.db, bystander_marker), timeout=10,
                             message="the bystander's query to run")
                terminate([target[0][0]])
                # The victim hears about it (an ErrorResponse), not silence.
                start = time.monotonic()
                victim.sock.settimeout(10)
                messages = []
                try:
                    while True:
                        kind, payload = victim.read()
                        messages.append((kind, payload))
                        if kind == b"Z":
                            break
                except (ConnectionError, OSError) as e:
                    if isinstance(e, socket.timeout):
                        self.fail(f"the victim got no answer {time.monotonic() - start:.1f} s "
                                  f"after its server died; so far {messages}")
                victim.close()
                errors = [h.error_fields(p) for k, p in messages if k == b"E"]
                self.assertTrue(errors, f"the victim's connection ended without an error: "
                                        f"{messages}")
                print(f"\n  victim got: {errors[0]}", file=sys.stderr)
                # PostgreSQL's own FATAL, as a direct connection gets it, and nothing after it.
                self.assertEqual([(e.get("C"), e.get("M")) for e in errors],
                                 [("57P01", "terminating connection due to administrator command")],
                                 errors)
                # The bystander on the other server is unaffected.
                thread.join(timeout=20)
                self.assertNotIn("error", box, f"the bystander failed: {box.get('error')!r}")
                self.assertIn("result", box, "the bystander's query did not finish")
                self.assertEqual(box["result"][2], "done")
                self.assertEqual(bystander.execute("SELECT 11").fetchone()[0], 11)
            # The pool refills: two concurrent clients get two servers again.
            workers = []
            for _ in range(2):
                conn = self.connect(pooler)
                self.addCleanup(conn.close)
                workers.append(run_in_thread(
                    lambda c=conn: c.execute("SELECT pg_backend_pid(), pg_sleep(1)").fetchone()))
            for thread, box in workers:
                thread.join(timeout=20)
                self.assertNotIn("error", box, repr(box.get("error")))
                self.assertIn("result", box, "a query after the kill did not finish")
            pids = {box["result"][0] for _, box in workers}
            self.assertNotIn(target[0][0], pids)
            self.assertEqual(len(pids), 2, f"two concurrent clients shared one server: {pids}")


class UnreachablePostgres(Case):
    def test_unreachable_then_started_then_restarted_under_load(self):
        cluster, port, dbname = self.private_cluster()
        cluster.stop()  # nothing listens on the port while the pooler starts
        settings = {"pool_mode": "transaction", "default_pool_size": 4, "server_login_retry": 1,
                    "query_wait_timeout": 3, "server_connect_timeout": 2}
        with Pooler(settings, databases={dbname: db_line(dbname, port=port)}) as pooler:
            def query(value, connect_timeout=15):
                with pooler.connect("scramuser", dbname=dbname, prepare_threshold=None,
                                    connect_timeout=connect_timeout) as conn:
                    return conn.execute("SELECT %s::int", (value,)).fetchone()[0]

            def expect_clear_error(when):
                start = time.monotonic()
                with self.assertRaises(psycopg.Error, msg=f"served {when}?") as caught:
                    query(1)
                elapsed = time.monotonic() - start
                text = error_text(caught.exception)
                print(f"\n  {when}: error after {elapsed:.1f} s: {text.strip()!r}",
                      file=sys.stderr)
                self.assertLess(elapsed, 10, f"{when}: the error took {elapsed:.1f} s: {text}")
                self.assertTrue(any(s in text for s in ("cannot connect", "query_wait_timeout",
                                                        "shutting down", "starting up")),
                                f"{when}: unclear error: {text}")
                return text

            def wait_served(when):
                start = time.monotonic()
                last = None
                while time.monotonic() - start < 20:
                    try:
                        self.assertEqual(query(2, connect_timeout=10), 2)
                        print(f"  {when}: served after {time.monotonic() - start:.1f} s",
                              file=sys.stderr)
                        return
                    except psycopg.Error as e:
                        last = e
                        time.sleep(0.2)
                self.fail(f"{when}: not served within 20 s; last error: {last}")

            text = expect_clear_error("nothing listening")
            self.assertIn("cannot connect", text)
            # PostgreSQL appears: the same pooler serves without a restart.
            cluster.start()
            wait_served("after PostgreSQL started")
            cluster.pgbench_init()
            processed, failed = h.pgbench_counts(
                self, pooler.pgbench("-c", "4", "-T", "3", dbname=dbname, timeout=60))
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0)
            # PostgreSQL stops: clear errors in bounded time, for new and connected clients.
            idle_client = pooler.connect("scramuser", dbname=dbname, prepare_threshold=None)
            self.addCleanup(idle_client.close)
            idle_client.execute("SELECT 1")
            cluster.stop("fast")
            expect_clear_error("PostgreSQL stopped")
            start = time.monotonic()
            with self.assertRaises(psycopg.Error):
                idle_client.execute("SELECT 3")
            self.assertLess(time.monotonic() - start, 10)
            # And starts again: served again, and a pgbench run has no failed transaction.
            cluster.start()
            wait_served("after PostgreSQL restarted")
            processed, failed = h.pgbench_counts(
                self, pooler.pgbench("-c", "4", "-T", "3", dbname=dbname, timeout=60))
            print(f"  pgbench after the restart: {processed} transactions, {failed} failed",
                  file=sys.stderr)
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0)


class RestartedPostgres(Case):
    def test_queued_clients_are_served_once_postgres_is_back(self):
        # PgBouncer's rule: once a pool has logged in, a failed login (PostgreSQL shutting down
        # or starting up) is logged and the queue waits for a later login that succeeds.
        cluster, port, dbname = self.private_cluster()
        settings = {"pool_mode": "transaction", "default_pool_size": 1,
                    "server_login_retry": 0.5, "query_wait_timeout": 60}
        with Pooler(settings, databases={dbname: db_line(dbname, port=port)}) as pooler:
            holder = RawClient(pooler.port, timeout=60)
            holder.login("scramuser", dbname, h.password("scramuser"))
            holder.query("BEGIN")
            waiters = []
            for i in range(3):
                waiter = RawClient(pooler.port, timeout=60)
                waiter.login("scramuser", dbname, h.password("scramuser"))
                waiter.send_query(f"SELECT {i}")
                waiters.append(waiter)
            time.sleep(0.3)  # queued behind the holder's transaction
            cluster.stop("fast")  # the holder's server dies; new logins fail for a while
            time.sleep(1.5)  # several server_login_retry rounds against a stopped PostgreSQL
            cluster.start()
            for i, waiter in enumerate(waiters):
                rows, error = waiter.read_result()
                self.assertIsNone(error, f"queued client {i} got the restart's error: {error}")
                self.assertEqual(rows, [[str(i)]])
                waiter.close()
            holder.close()
            log = pooler.log()
            self.assertIn("server login failed", log)

    def test_pgbench_through_a_restart_loses_only_the_running_clients(self):
        cluster, port, dbname = self.private_cluster()
        cluster.pgbench_init()
        pool_size = 2
        settings = {"pool_mode": "transaction", "default_pool_size": pool_size,
                    "server_login_retry": 0.5, "query_wait_timeout": 60}
        with Pooler(settings, databases={dbname: db_line(dbname, port=port)}) as pooler:
            bench, box = run_in_thread(lambda: pooler.pgbench(
                "-c", "8", "-T", "12", "-n", dbname=dbname, timeout=120))
            time.sleep(4)
            cluster.stop("fast")
            time.sleep(1)
            cluster.start()
            bench.join(timeout=120)
            self.assertNotIn("error", box, box.get("error"))
            proc = box["result"]
            output = proc.stdout + proc.stderr
            aborted = len(re.findall(r"client \d+ aborted", output))
            processed = re.search(r"number of transactions actually processed: (\d+)", output)
            print(f"\n  pgbench -c 8 through a restart, pool of {pool_size}: {aborted} clients "
                  f"aborted, {processed.group(1) if processed else '?'} transactions",
                  file=sys.stderr)
            # The clients whose transaction ran on a server that died lose it; the ones queued
            # go on once PostgreSQL is back.
            self.assertLessEqual(aborted, pool_size, output[-3000:])
            self.assertIsNotNone(processed, output[-3000:])
            self.assertGreater(int(processed.group(1)), 0)


class CrashedServer(Case):
    def test_backend_killed_without_a_word(self):
        # SIGKILL of a backend makes PostgreSQL restart every backend of its cluster: only on a
        # private cluster. The dying backend sends nothing, so the pooler has to say it.
        cluster, port, dbname = self.private_cluster()
        settings = {"pool_mode": "transaction", "default_pool_size": 2, "server_login_retry": 1,
                    "query_wait_timeout": 10}
        with Pooler(settings, databases={dbname: db_line(dbname, port=port)}) as pooler:
            marker = h.unique_name("crash")
            client = RawClient(pooler.port, timeout=15)
            client.login("scramuser", dbname, h.password("scramuser"))
            client.send_query(f"SELECT pg_sleep(30) /* {marker} */")

            def running():
                with cluster.superuser() as c:
                    return c.execute("SELECT pid FROM pg_stat_activity WHERE state = 'active' "
                                     "AND query LIKE %s AND pid <> pg_backend_pid()",
                                     (f"%{marker}%",)).fetchall()

            pid = h.wait_until(running, timeout=10, message="the query to run")[0][0]
            os.kill(pid, signal.SIGKILL)
            start = time.monotonic()
            client.sock.settimeout(10)
            messages = []
            try:
                while True:
                    kind, payload = client.read()
                    messages.append((kind, payload))
                    if kind == b"Z":
                        break
            except socket.timeout:
                self.fail(f"no answer {time.monotonic() - start:.1f} s after the server died; "
                          f"so far {messages}")
            except ConnectionError:
                pass
            client.close()
            errors = [h.error_fields(p) for k, p in messages if k == b"E"]
            self.assertTrue(errors, f"the client's connection ended without an error: "
                                    f"{messages}")
            print(f"\n  client got: {errors[0]}", file=sys.stderr)
            self.assertEqual(errors[0].get("C"), "08006", errors[0])
            self.assertIn("server conn crashed", errors[0].get("M", ""), errors[0])
            # PostgreSQL recovers by itself; the pooler serves again without a restart.
            deadline = time.monotonic() + 30
            last = None
            while time.monotonic() < deadline:
                try:
                    with pooler.connect("scramuser", dbname=dbname, prepare_threshold=None) as c:
                        self.assertEqual(c.execute("SELECT 16").fetchone()[0], 16)
                    break
                except psycopg.Error as e:
                    last = e
                    time.sleep(0.3)
            else:
                self.fail(f"not served within 30 s of the crash; last error: {last}")


class VanishingClients(Case):
    settings = {"pool_mode": "transaction", "default_pool_size": 1, "query_wait_timeout": 15}

    def assert_clean(self, pooler, table, rows):
        h.wait_until(lambda: not not_idle(self.db), timeout=5,
                     message="the server to be idle outside a transaction "
                             f"(backends: {db_backends(self.db)})")
        self.assertEqual(self.count_rows(table), rows)
        with self.connect(pooler) as conn:
            row = conn.execute("SELECT txid_current_if_assigned(), "
                               "now() = statement_timestamp()").fetchone()
        self.assertEqual(row, (None, True), "the next client got a server inside a transaction")

    def test_client_gone_mid_transaction(self):
        table = self.make_table()
        with db_pooler(self.db, self.settings) as pooler:
            client = self.login(pooler)
            client.query("BEGIN")
            client.query(f"INSERT INTO {table} VALUES (1)")
            self.assertTrue([b for b in db_backends(self.db) if b[2] == "idle in transaction"])
            client.close()
            self.assert_clean(pooler, table, 0)

    def test_client_gone_mid_copy_from_stdin(self):
        table = self.make_table()
        with db_pooler(self.db, self.settings) as pooler:
            client = self.login(pooler)
            client.send_query(f"COPY {table} FROM STDIN")
            kind, _ = client.expect(b"G")
            for i in range(100):
                client.send(h.message(b"d", f"{i}\n".encode()))
            h.wait_until(lambda: [b for b in db_backends(self.db) if b[2] == "active"
                                  and "COPY" in (b[3] or "")], timeout=10,
                         message="the COPY to run")
            client.close()
            self.assert_clean(pooler, table, 0)

    def test_client_gone_while_queued(self):
        table = self.make_table()
        with db_pooler(self.db, self.settings) as pooler:
            with self.connect(pooler) as holder:
                holder.execute("BEGIN")
                holder.execute(f"INSERT INTO {table} VALUES (1)")
                waiter = self.login(pooler)
                waiter.send_query(f"INSERT INTO {table} VALUES (2)")
                time.sleep(0.5)  # queued behind the holder's transaction
                waiter.close()
                time.sleep(0.2)
                holder.execute("COMMIT")
                self.assertEqual(holder.execute("SELECT 12").fetchone()[0], 12)
            # The waiter's query never ran: it left before it had a server.
            self.assert_clean(pooler, table, 1)


class SlowReader(Case):
    def test_client_that_stops_reading_a_huge_result(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 2, "query_timeout": 3,
                    "query_wait_timeout": 15}
        marker = h.unique_name("huge")
        with db_pooler(self.db, settings) as pooler:
            baseline = h.rss_kb(pooler.pid)
            stuck = RawClient(pooler.port, timeout=15)
            stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.login("scramuser", self.db, h.password("scramuser"))
            start = time.monotonic()
            stuck.send_query(f"SELECT repeat('x', 1000) FROM generate_series(1, 2000000) "
                             f"/* {marker} */")
            # ... and never reads a byte of it.
            try:
                h.wait_until(lambda: active_with(self.db, marker), timeout=10,
                             message="the huge query to run")
                rss, latencies = [], []
                with self.connect(pooler) as other:
                    deadline = time.monotonic() + 5
                    while time.monotonic() < deadline:
                        rss.append(h.rss_kb(pooler.pid))
                        t0 = time.monotonic()
                        self.assertEqual(other.execute("SELECT 13").fetchone()[0], 13)
                        latencies.append(time.monotonic() - t0)
                        time.sleep(0.1)
                print(f"\n  pooler RSS {baseline} kB at start, at most {max(rss)} kB while the "
                      f"reader stalled; other client max latency {max(latencies):.2f} s",
                      file=sys.stderr)
                self.assertLess(max(rss), 64 * 1024,
                                f"the pooler buffered the unread result: RSS {max(rss)} kB")
                self.assertLess(max(latencies), 5, "the other client was starved")
                # query_timeout frees the stuck server on PostgreSQL.
                h.wait_until(lambda: not active_with(self.db, marker),
                             timeout=max(1.0, start + 15 - time.monotonic()),
                             message="the huge query to end on PostgreSQL within 15 s")
                self.assertLess(h.rss_kb(pooler.pid), 64 * 1024)
            finally:
                stuck.close()
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 14").fetchone()[0], 14)


class LoginStorm(Case):
    def test_2000_clients_connect_at_once(self):
        clients = 2000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))  # the pooler inherits it
        if want < clients + 200:
            self.skipTest(f"RLIMIT_NOFILE hard limit {hard} is too low for {clients} clients")
        settings = {"pool_mode": "transaction", "default_pool_size": 10, "max_client_conn": 3000,
                    "query_wait_timeout": 60}
        with db_pooler(self.db, settings) as pooler, BackendWatch(self.db) as watch:
            dsn = pooler.dsn("scramuser", dbname=self.db, connect_timeout=60)

            async def one():
                try:
                    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True,
                                                                 prepare_threshold=None)
                    try:
                        cur = await conn.execute("select 1")
                        row = await cur.fetchone()
                    finally:
                        await conn.close()
                    return "served" if row == (1,) else f"wrong answer {row}"
                except psycopg.Error as e:
                    return e

            async def storm():
                tasks = [asyncio.ensure_future(one()) for _ in range(clients)]
                done, pending = await asyncio.wait(tasks, timeout=120)
                for t in pending:
                    t.cancel()
                if pending:
                    await asyncio.wait(pending, timeout=10)
                return [t.result() for t in done], len(pending)

            start = time.monotonic()
            results, hung = asyncio.run(storm())
            elapsed = time.monotonic() - start
            served = sum(1 for r in results if r == "served")
            errors = {}
            for r in results:
                if r != "served":
                    key = error_text(r)[:160] if isinstance(r, Exception) else r
                    errors[key] = errors.get(key, 0) + 1
            print(f"\n  login storm: {served} of {clients} served, {hung} hung, in {elapsed:.1f} s;"
                  f" errors {errors}; at most {watch.max} backends", file=sys.stderr)
            self.assertEqual(hung, 0, f"{hung} clients still waiting after 120 s; errors {errors}")
            timeouts = {k: v for k, v in errors.items() if "timeout expired" in k}
            self.assertEqual(timeouts, {}, "clients gave up waiting (connect_timeout=60): "
                                           "hung rather than refused")
            self.assertFalse([k for k in errors if k.startswith("wrong answer")], errors)
            self.assertGreater(served, 0, f"nobody was served; errors {errors}")
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 15").fetchone()[0], 15)
        watch.check()
        self.assertGreater(watch.max, 0, "the monitor never saw the pool")
        self.assertLessEqual(watch.max, 10, f"PostgreSQL saw {watch.max} backends for a pool "
                                            f"of 10 ({watch.samples} samples)")


if __name__ == "__main__":
    h.main()
