#!/usr/bin/python3
"""Replication connections pass through: a startup packet with replication=database (logical)
or replication=true (physical) gets a PostgreSQL connection of its own, outside every pool, and
its bytes flow untouched both ways, so psql's IDENTIFY_SYSTEM, pg_recvlogical's logical decoding
and pg_basebackup's streamed backup work through the pooler in any pool mode. The client is told
its walsender's real pid; SHOW CLIENTS and SHOW SERVERS say logical or physical; client and
server close together; PostgreSQL's own refusals and FATALs reach the client as sent; hba's
`replication` keyword matches physical connections only; bad values and the console are
refused with PostgreSQL's SQLSTATEs."""

import os
import shutil
import subprocess
import tempfile
import unittest

import psycopg

import harness as h
from harness import PgError, Pooler, RawClient


def repl_user():
    user, secret = h.state()["replication_user"]
    return user, secret


def pg_tool(name):
    return os.path.join(h.state()["pg_bin"], name)


def pooler(mode="transaction", settings=None, **kwargs):
    """A pooler that knows the replication role, with `replication` as a database name too
    (pg_basebackup and physical clients ask for it)."""
    user, secret = repl_user()
    s = {"pool_mode": mode, "default_pool_size": 1, "max_client_conn": 50,
         "admin_users": "scramuser", "query_wait_timeout": 20}
    s.update(settings or {})
    target = f"host={h.HOST} port={h.pg_port()} dbname={h.state()['database']}"
    databases = {h.state()["database"]: target, "replication": target}
    users = list(h.state()["users"].items()) + [(user, secret)]
    return Pooler(s, users=users, databases=databases, **kwargs)


def tool_env():
    env = dict(os.environ)
    env["PGPASSWORD"] = repl_user()[1]
    env["PGCONNECT_TIMEOUT"] = "10"
    env.pop("PGSERVICE", None)
    return env


def run_tool(argv, timeout=120):
    return subprocess.run(argv, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout)


def conninfo(port, **extra):
    params = {"host": h.HOST, "port": port, "user": repl_user()[0],
              "dbname": h.state()["database"], "sslmode": "disable"}
    params.update(extra)
    return " ".join(f"{k}={v}" for k, v in params.items())


def identify_system(port, mode):
    proc = run_tool(["psql", "-X", "-At", "-F", "|", "-d", conninfo(port, replication=mode),
                     "-c", "IDENTIFY_SYSTEM"])
    return proc


def walsenders():
    """The repluser walsenders PostgreSQL has now."""
    with h.superuser_conn() as c:
        return c.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender' "
                         "AND usename = %s", (repl_user()[0],)).fetchone()[0]


def raw_replication(pooler_port, mode, user=None, database=None):
    user = user or repl_user()[0]
    secret = repl_user()[1] if user == repl_user()[0] else h.password(user)
    raw = RawClient(pooler_port)
    try:
        raw.login(user, database or h.state()["database"], secret, replication=mode)
    except BaseException:
        raw.close()
        raise
    return raw


class PassThrough(unittest.TestCase):
    def test_identify_system_matches_direct_in_every_mode(self):
        direct = identify_system(h.pg_port(), "database")
        self.assertEqual(direct.returncode, 0, direct.stderr)
        system_id, timeline, _, dbname = direct.stdout.strip().split("|")
        for mode in ("transaction", "session", "statement"):
            with self.subTest(mode=mode), pooler(mode) as p:
                for replication in ("database", "true"):
                    proc = identify_system(p.port, replication)
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    got = proc.stdout.strip().split("|")
                    self.assertEqual(got[0], system_id)
                    self.assertEqual(got[1], timeline)
                    # A physical walsender is bound to no database.
                    self.assertEqual(got[3], dbname if replication == "database" else "")

    def test_pg_basebackup_streams_a_backup_through_the_pooler(self):
        target = tempfile.mkdtemp(prefix="pooler-basebackup-")
        try:
            with pooler() as p:
                proc = run_tool([pg_tool("pg_basebackup"), "-h", h.HOST, "-p", str(p.port),
                                 "-U", repl_user()[0], "-D", os.path.join(target, "data"),
                                 "-X", "stream", "-c", "fast", "--no-sync", "-w"], timeout=300)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                data = os.path.join(target, "data")
                with open(os.path.join(data, "PG_VERSION")) as f:
                    self.assertEqual(f.read().strip(), "15")
                self.assertTrue(os.path.exists(os.path.join(data, "backup_manifest")))
                # -X stream ran a second walsender for the WAL: both have gone with their
                # clients.
                h.wait_until(lambda: walsenders() == 0, message="walsenders gone")
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def test_logical_decoding_streams_changes_through_the_pooler(self):
        slot = h.unique_name("pooler_slot")
        with pooler() as p:
            dsn = conninfo(p.port)
            proc = run_tool([pg_tool("pg_recvlogical"), "-d", dsn, "--slot", slot,
                             "--create-slot", "-P", "test_decoding"])
            self.assertEqual(proc.returncode, 0, proc.stderr)
            try:
                table = h.unique_name("repl_t")
                with h.direct_conn() as c:
                    c.execute(f"CREATE TABLE {table} (id int, note text)")
                    c.execute(f"INSERT INTO {table} VALUES (1, 'through the pooler')")
                    end = c.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
                proc = run_tool([pg_tool("pg_recvlogical"), "-d", dsn, "--slot", slot, "--start",
                                 "-E", str(end), "--no-loop", "-f", "-"])
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn(f"table public.{table}: INSERT: id[integer]:1 "
                              "note[text]:'through the pooler'", proc.stdout)
            finally:
                drop = run_tool([pg_tool("pg_recvlogical"), "-d", dsn, "--slot", slot,
                                 "--drop-slot"])
                self.assertEqual(drop.returncode, 0, drop.stderr)

    def test_a_replication_connection_uses_no_pool_server(self):
        # Pool of one, held by a client in a transaction: the replication connection does not
        # wait for it, and the pool's client is not disturbed.
        with pooler() as p:
            with p.connect("scramuser", autocommit=False) as holder:
                holder.execute("SELECT 1")
                proc = identify_system(p.port, "database")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(holder.execute("SELECT 2").fetchone()[0], 2)


class Identities(unittest.TestCase):
    def test_real_pid_console_rows_and_closing_together(self):
        with pooler() as p:
            with raw_replication(p.port, "database") as raw:
                pid = int(raw.query("SELECT pg_backend_pid()")[0][0])
                self.assertEqual(raw.backend_key[0], pid)
                self.assertEqual(raw.parameters.get("server_encoding"), "UTF8")
                with p.connect("scramuser", dbname="pgbouncer") as console:
                    _, clients = h.show(console, "CLIENTS")
                    mine = [c for c in clients if c["user"] == repl_user()[0]]
                    self.assertEqual(len(mine), 1, clients)
                    self.assertEqual(mine[0]["replication"], "logical")
                    self.assertEqual(mine[0]["state"], "active")
                    _, servers = h.show(console, "SERVERS")
                    theirs = [s for s in servers if s["user"] == repl_user()[0]]
                    self.assertEqual(len(theirs), 1, servers)
                    self.assertEqual(theirs[0]["replication"], "logical")
                    self.assertEqual(theirs[0]["remote_pid"], pid)
                    self.assertEqual(theirs[0]["link"], mine[0]["ptr"])
                    others = [c for c in clients if c["user"] == "scramuser"]
                    self.assertTrue(all(c["replication"] == "none" for c in others), clients)
                self.assertEqual(walsenders(), 1)
            # The client went: its walsender goes with it.
            h.wait_until(lambda: walsenders() == 0, message="walsender closed with its client")

    def test_physical_connection_is_listed_as_physical(self):
        with pooler() as p:
            with raw_replication(p.port, "true", database="replication") as raw:
                rows = raw.query("IDENTIFY_SYSTEM")
                self.assertEqual(len(rows), 1)
                with p.connect("scramuser", dbname="pgbouncer") as console:
                    _, clients = h.show(console, "CLIENTS")
                    mine = [c for c in clients if c["user"] == repl_user()[0]]
                    self.assertEqual([c["replication"] for c in mine], ["physical"])

    def test_terminated_walsender_fatal_reaches_the_client(self):
        with pooler() as p:
            with raw_replication(p.port, "database") as raw:
                pid = raw.backend_key[0]
                with h.superuser_conn() as c:
                    c.execute("SELECT pg_terminate_backend(%s)", (pid,))
                kind, payload = raw.read()
                self.assertEqual(kind, b"E")
                fields = h.error_fields(payload)
                self.assertEqual(fields.get("C"), "57P01")
                self.assertEqual(fields.get("M"),
                                 "terminating connection due to administrator command")
                self.assertEqual(h.read_until_closed(raw.sock), b"")


class Refusals(unittest.TestCase):
    def test_a_bad_replication_value_is_refused_as_postgresql_does(self):
        with pooler() as p:
            with self.assertRaises(PgError) as caught:
                raw_replication(p.port, "sometimes")
            self.assertEqual(caught.exception.sqlstate, "22023")
            self.assertEqual(caught.exception.message,
                             'invalid value for parameter "replication": "sometimes"')

    def test_replication_false_is_an_ordinary_pooled_login(self):
        with pooler() as p:
            with raw_replication(p.port, "false", user="scramuser") as raw:
                self.assertEqual(raw.query("SELECT 7"), [["7"]])

    def test_the_console_refuses_replication(self):
        with pooler() as p:
            with self.assertRaises(PgError) as caught:
                raw_replication(p.port, "database", user="scramuser", database="pgbouncer")
            self.assertEqual(caught.exception.sqlstate, "0A000")

    def test_postgresql_refusals_reach_the_client_as_sent(self):
        with pooler() as p:
            # No REPLICATION attribute: PostgreSQL's walsender check, its SQLSTATE and words.
            with self.assertRaises(PgError) as caught:
                raw_replication(p.port, "database", user="scramuser")
            self.assertEqual(caught.exception.sqlstate, "42501")
            self.assertIn("replication", caught.exception.message)
            # PostgreSQL's hba has no `replication` line for this user.
            with self.assertRaises(PgError) as caught:
                raw_replication(p.port, "true", user="scramuser", database="replication")
            self.assertEqual(caught.exception.sqlstate, "28000")
            self.assertIn("no pg_hba.conf entry for replication connection",
                          caught.exception.message)

    def test_pooler_hba_replication_keyword_matches_physical_only(self):
        hba = "host replication repluser 127.0.0.1/32 md5\nhost all all 127.0.0.1/32 md5\n"
        with pooler(settings={"auth_type": "hba", "auth_hba_file": "hba.conf"},
                    files={"hba.conf": hba}) as p:
            with raw_replication(p.port, "true", database="replication") as raw:
                self.assertEqual(len(raw.query("IDENTIFY_SYSTEM")), 1)
        # Without the `replication` line, `all` admits the logical connection but not the
        # physical one.
        with pooler(settings={"auth_type": "hba", "auth_hba_file": "hba.conf"},
                    files={"hba.conf": "host all all 127.0.0.1/32 md5\n"}) as p:
            with raw_replication(p.port, "database") as raw:
                self.assertEqual(len(raw.query("IDENTIFY_SYSTEM")), 1)
            with self.assertRaises(PgError) as caught:
                raw_replication(p.port, "true", database="replication")
            self.assertEqual(caught.exception.sqlstate, "28000")
            self.assertEqual(caught.exception.message,
                             'no pg_hba.conf entry for replication connection from host '
                             '"127.0.0.1", user "repluser", no encryption')


if __name__ == "__main__":
    unittest.main()
