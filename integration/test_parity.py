#!/usr/bin/python3
"""PgBouncer's behaviour where scripts, logs and operators see it: the log lines alerting greps
for (each one produced for real and read back from the logfile), query_timeout for clients still
queued, connect_query on every new server, server_fast_close in session mode, and node's pg
connecting and ending at once.

Every case runs against a database of its own, so counting that database's backends in
pg_stat_activity counts this pooler's servers and nothing another case (or file) opened."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

import psycopg

import harness as h
import isolated_db
from harness import Pooler, RawClient
from isolated_db import db_backends, db_line, read_to_close, split_messages

CLOSE = r"closing because: {} \(age=\d+s\)"


class Case(isolated_db.Case):
    db_prefix, case_limit = "parity", 150

    def pooler(self, settings, **db_options):
        base = {"pool_mode": "transaction", "default_pool_size": 2, "query_wait_timeout": 30,
                "admin_users": "scramuser"}
        return Pooler({**base, **settings}, databases={self.db: db_line(self.db, **db_options)})

    def wait_for_log(self, pooler, pattern, timeout=10):
        """Polls the logfile until `pattern` (a regex) matches a line; returns the match."""
        regex = re.compile(pattern)
        return h.wait_until(lambda: regex.search(pooler.log()), timeout=timeout,
                            message=f"a log line matching {pattern!r}")

    def admin(self, pooler, command):
        with pooler.connect("scramuser", dbname="pgbouncer") as admin:
            admin.execute(command)


class LogLines(Case):
    def test_client_close_reasons(self):
        with self.pooler({"query_timeout": 0.5, "client_idle_timeout": 1}) as pooler:
            prefix = rf"C-0x[0-9a-f]+: {self.db}/scramuser@127\.0\.0\.1:\d+ "
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")
            self.wait_for_log(pooler, prefix + CLOSE.format("client close request"))
            client = self.login(pooler)
            client.close()  # no Terminate
            self.wait_for_log(pooler, prefix + CLOSE.format("client unexpected eof"))
            with self.login(pooler) as client:
                client.send_query("SELECT pg_sleep(5)")
                read_to_close(client.sock, timeout=15)
            self.wait_for_log(pooler, prefix + CLOSE.format("query_timeout"))
            with self.login(pooler) as client:
                read_to_close(client.sock, timeout=15)
            self.wait_for_log(pooler, prefix + CLOSE.format("client_idle_timeout"))
            # A CancelRequest connection, which answers only by closing.
            with self.login(pooler) as client:
                client.send_query("SELECT pg_sleep(5)")
                h.wait_until(lambda: [b for b in db_backends(self.db) if b[2] == "active"],
                             timeout=10, message="the query to run")
                h.send_cancel(pooler.port, *client.backend_key)
            self.wait_for_log(pooler, r"C-0x[0-9a-f]+: \(nodb\)/\(nouser\)@127\.0\.0\.1:\d+ " +
                              CLOSE.format("successfully sent cancel request"))

    def test_server_lines(self):
        settings = {"server_idle_timeout": 1, "reserve_pool_size": 1,
                    "reserve_pool_timeout": 0.2, "default_pool_size": 1}
        with self.pooler(settings) as pooler:
            prefix = rf"S-0x[0-9a-f]+: {self.db}/scramuser@127\.0\.0\.1:{h.pg_port()} "
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")
            self.wait_for_log(pooler, prefix + r"new connection to server "
                                               r"\(from 127\.0\.0\.1:\d+\)")
            self.wait_for_log(pooler, prefix + CLOSE.format("server idle timeout"))
            # A second client waiting longer than reserve_pool_timeout gets a reserve server.
            with self.connect(pooler) as holder, self.connect(pooler) as waiter:
                holder.execute("BEGIN")
                holder.execute("SELECT 1")
                self.assertEqual(waiter.execute("SELECT 2").fetchone()[0], 2)
                holder.execute("COMMIT")
            self.wait_for_log(pooler, prefix + r"taking connection from reserve_pool")
            self.assertRegex(pooler.log(), r"(?i)\[\d+\] warning S-0x[0-9a-f]+: .*taking "
                                           r"connection from reserve_pool")
            # RECONNECT closes the idle servers with PgBouncer's words.
            with self.connect(pooler) as conn:
                conn.execute("SELECT 3")
            self.admin(pooler, f"RECONNECT {self.db}")
            self.wait_for_log(pooler, prefix + CLOSE.format("database configuration changed"))

    def test_lifetime_connect_failure_and_auto_database(self):
        dead_port = h.free_port()
        databases = {"*": f"host={h.HOST} port={h.pg_port()}",
                     "deadend": f"host={h.HOST} port={dead_port} dbname={self.db}"}
        settings = {"pool_mode": "transaction", "server_lifetime": 0.5,
                    "server_login_retry": 0.5, "query_wait_timeout": 2}
        with Pooler(settings, databases=databases) as pooler:
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")
                time.sleep(0.7)
                conn.execute("SELECT 2")  # released after its lifetime: closed
            self.wait_for_log(pooler, rf"registered new auto-database: db={self.db}")
            self.assertEqual(pooler.log().count(f"registered new auto-database: db={self.db}"), 1)
            self.wait_for_log(pooler, rf"S-0x[0-9a-f]+: {self.db}/scramuser@[^ ]+ " +
                              CLOSE.format("server lifetime over"))
            with self.assertRaises(psycopg.Error):
                with pooler.connect("scramuser", dbname="deadend") as conn:
                    conn.execute("SELECT 1")
            self.wait_for_log(pooler, rf"S-0x[0-9a-f]+: deadend/scramuser@127\.0\.0\.1:"
                                      rf"{dead_port} " + CLOSE.format("connect failed"))

    def test_eviction_for_max_user_connections(self):
        other = h.create_database(prefix="parity_other")
        self.addCleanup(h.drop_database, other)
        databases = {self.db: db_line(self.db), other: db_line(other)}
        settings = {"pool_mode": "transaction", "max_user_connections": 1,
                    "query_wait_timeout": 30}
        with Pooler(settings, databases=databases) as pooler:
            with self.connect(pooler) as conn:
                conn.execute("SELECT 1")  # leaves an idle server in this database's pool
            with pooler.connect("scramuser", dbname=other, prepare_threshold=None) as conn:
                self.assertEqual(conn.execute("SELECT 2").fetchone()[0], 2)
            self.wait_for_log(pooler, rf"S-0x[0-9a-f]+: {self.db}/scramuser@[^ ]+ " +
                              CLOSE.format("evicted"))


class QueueTimeouts(Case):
    def test_query_timeout_ends_a_wait_in_the_queue(self):
        with self.pooler({"default_pool_size": 1, "query_timeout": 1}) as pooler:
            with self.connect(pooler) as holder:
                holder.execute("BEGIN")
                holder.execute("SELECT 1")
                waiter = self.login(pooler)
                waiter.send_query("SELECT 'never'")
                data, waited = read_to_close(waiter.sock, timeout=15)
                errors = [h.error_fields(p) for k, p in split_messages(data) if k == b"E"]
                self.assertTrue(errors, data)
                self.assertEqual(errors[0].get("M"), "query_timeout", errors[0])
                self.assertEqual(errors[0].get("C"), "57014", errors[0])
                print(f"\n  the queued client was told after {waited:.2f} s (query_timeout 1 s, "
                      f"query_wait_timeout 30 s)", file=sys.stderr)
                holder.execute("COMMIT")

    def test_query_timeout_ends_a_wait_for_the_pools_first_server(self):
        # A "server" that accepts the connection and never answers the startup packet: the
        # client waits for the pool's first login until query_timeout.
        silent = socket.create_server((h.HOST, 0))
        self.addCleanup(silent.close)
        port = silent.getsockname()[1]
        settings = {"pool_mode": "transaction", "query_timeout": 1, "query_wait_timeout": 30,
                    "server_connect_timeout": 30}
        with Pooler(settings, databases={"silent": f"host={h.HOST} port={port} dbname=x"}
                    ) as pooler:
            client = RawClient(pooler.port, timeout=15)
            with self.assertRaises(h.PgError) as caught:
                client.login("scramuser", "silent", h.password("scramuser"))
            self.assertEqual(caught.exception.message, "query_timeout")
            self.assertEqual(caught.exception.sqlstate, "57014")
            client.close()


class ConnectQuery(Case):
    def test_connect_query_runs_once_per_new_server_and_its_errors_are_ignored(self):
        table = self.make_table()
        query = f"INSERT INTO {table} SELECT pg_backend_pid()"
        with self.pooler({"default_pool_size": 3}, connect_query=f"'{query}'") as pooler:
            conns = [self.connect(pooler) for _ in range(3)]
            for c in conns:
                c.execute("BEGIN")  # three transactions at once: three servers
            pids = {c.execute("SELECT pg_backend_pid()").fetchone()[0] for c in conns}
            for c in conns:
                c.execute("COMMIT")
            for _ in range(5):
                for c in conns:
                    c.execute("SELECT 1")
            for c in conns:
                c.close()
            with h.direct_conn(dbname=self.db) as c:
                logged = [r[0] for r in c.execute(f"SELECT id FROM {table}").fetchall()]
            self.assertEqual(sorted(logged), sorted(pids), "connect_query did not run exactly "
                                                           "once on each server")
        with self.pooler({}, connect_query="'SELECT 1/0'") as pooler:
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 5").fetchone()[0], 5)
                self.assertEqual(conn.execute("SELECT txid_current_if_assigned()").fetchone()[0],
                                 None)
            self.assertIn("division by zero", pooler.log())


class FastClose(Case):
    def test_server_fast_close_ends_a_session_at_its_boundary(self):
        for fast in (1, 0):
            with self.subTest(server_fast_close=fast), \
                    self.pooler({"pool_mode": "session", "server_fast_close": fast}) as pooler:
                client = self.login(pooler)
                backend = int(client.query("SELECT pg_backend_pid()")[0][0])
                self.admin(pooler, f"RECONNECT {self.db}")
                if fast:
                    data, _ = read_to_close(client.sock, timeout=10)
                    errors = [h.error_fields(p) for k, p in split_messages(data) if k == b"E"]
                    self.assertTrue(errors, data)
                    self.assertEqual(errors[0].get("M"), "database configuration changed")
                    self.assertEqual(errors[0].get("C"), "57P01")
                    h.wait_until(lambda: not [b for b in db_backends(self.db)
                                              if b[0] == backend], timeout=10,
                                 message="the marked server to close")
                else:
                    time.sleep(0.5)  # a few janitor ticks: the session must stay
                    self.assertEqual(client.query("SELECT pg_backend_pid()"), [[str(backend)]])
                client.close()


NODE_SCRIPT = r"""
const { Client } = require('pg');
const cfg = JSON.parse(process.argv[2]);
(async () => {
  for (let i = 0; i < cfg.rounds; i++) {
    const c = new Client(cfg.conn);
    c.connect().catch(e => { console.error('ERROR connect ' + e.message); process.exit(1); });
    await c.end();  // Terminate goes out with (before, in fact) the startup packet
  }
  const c = new Client(cfg.conn);
  await c.connect();
  const r = await c.query('SELECT 7 AS v');
  await c.end();
  console.log(JSON.stringify({ v: r.rows[0].v }));
})().catch(e => { console.error('ERROR ' + e.message); process.exit(1); });
"""


class QuickClients(Case):
    def test_node_pg_connect_then_end_at_once(self):
        top = h.node_pg_dir()
        script = os.path.join(top, "quick.js")
        with open(script, "w") as f:
            f.write(NODE_SCRIPT)
        with self.pooler({"auth_type": "scram-sha-256"}) as pooler:
            cfg = {"rounds": 20, "conn": {"host": h.HOST, "port": pooler.port,
                                          "user": "scramuser", "database": self.db,
                                          "password": h.password("scramuser")}}
            proc = subprocess.run(["node", script, json.dumps(cfg)], capture_output=True,
                                  text=True, timeout=120, cwd=top)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(json.loads(proc.stdout), {"v": 7})
            log = pooler.log()
            self.assertNotIn("invalid startup packet", log)
            self.assertNotIn("pooler error", log)
            self.assertEqual(log.count("closing because: client close request"), 21)
            with self.connect(pooler) as conn:
                self.assertEqual(conn.execute("SELECT 8").fetchone()[0], 8)


if __name__ == "__main__":
    h.main()
