#!/usr/bin/python3
"""auth_user and auth_query: clients missing from auth_file are looked up in PostgreSQL by an
auth user, with PgBouncer's default query and with the SECURITY DEFINER function PgBouncer's
docs recommend. A SCRAM verifier gives SCRAM with the client and pass-through to PostgreSQL, an
md5 hash md5 both ways; expired, unknown and non-login users are refused exactly like a wrong
password; results are cached (a pgbench -C burst costs few look-ups, RELOAD and RECONNECT clear
the cache, a rotated password works by the next login); the look-up has its own pool; per
database and `*` entries carry their own auth_user.

Look-ups are counted in PostgreSQL's log: the auth users log every statement
(log_statement = all) and a counting case gives its pooler an auth_query with a marker of its
own, so each marked LOG line is one look-up of that case."""

import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient

DEFAULT_QUERY = ("SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
                 "FROM pg_authid WHERE rolname=$1 AND rolcanlogin")
FUNCTION_QUERY = "SELECT uname, phash FROM aqs.user_lookup($1)"
LOOKUP_FUNCTION = """
CREATE FUNCTION aqs.user_lookup(in i_username text, out uname text, out phash text)
RETURNS record AS $$
BEGIN
    SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END
    FROM pg_catalog.pg_authid
    WHERE rolname = i_username AND rolcanlogin
    INTO uname, phash;
    RETURN;
END;
$$ LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
"""

NODE_SCRIPT = r"""
const { Client } = require('pg');
const c = new Client(JSON.parse(process.argv[2]));
(async () => {
  await c.connect();
  const r = await c.query('SELECT current_user AS u');
  await c.end();
  console.log(JSON.stringify({ user: r.rows[0].u }));
})().catch(e => { console.error('ERROR ' + e.message); process.exit(1); });
"""


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def db_line(dbname, **options):
    """A [databases] value on the test cluster; options with blanks are quoted."""
    line = f"host={h.HOST} port={h.pg_port()}" + (f" dbname={dbname}" if dbname else "")
    for key, value in options.items():
        line += f" {key}=" + (f"'{value}'" if " " in str(value) else str(value))
    return line


def marked_query(marker):
    """PgBouncer's default query, with a column alias that makes its log lines countable."""
    return DEFAULT_QUERY.replace("SELECT rolname,", f"SELECT rolname AS {marker},", 1)


class PgLog:
    """PostgreSQL's log (logging_collector writes one file, see pg_cluster.py) from a mark on."""

    def __init__(self):
        self.path = os.path.join(h.state()["dir"], "postgresql.log")
        self.offset = os.path.getsize(self.path)

    def text(self):
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            return f.read()

    def lookups(self, marker):
        """Executions of a marked auth_query: one 'statement:' or 'execute <name>:' LOG line
        each, whether the pooler sends it as a simple, an unnamed or a prepared query."""
        return len(re.findall(rf"LOG:  (?:statement|execute [^:\n]*): [^\n]*\b{marker}\b",
                              self.text()))

    def wait_lookups(self, marker, at_least, timeout=10):
        return h.wait_until(lambda: self.lookups(marker) >= at_least and self.lookups(marker),
                            timeout=timeout,
                            message=f"{at_least} look-up(s) with {marker} in PostgreSQL's log "
                                    f"(saw {self.lookups(marker)})")

    def settled_lookups(self, marker):
        """The count once the collector has written what PostgreSQL logged so far."""
        time.sleep(0.5)
        return self.lookups(marker)


def login(pooler, user, password, dbname="itest"):
    """A raw login and `SELECT current_user, current_database()`; returns the closed client,
    with .auth_method and .rows."""
    with RawClient(pooler.port) as client:
        client.login(user, dbname, password)
        client.rows = client.query("SELECT current_user, current_database()")
        return client


def refusal(pooler, user, password, dbname="itest"):
    """A login that must fail: (method the client was asked for, severity, SQLSTATE, message)."""
    with RawClient(pooler.port) as client:
        try:
            client.login(user, dbname, password)
        except h.PgError as e:
            # A message may name the user; what must not differ is everything else.
            return (client.auth_method, e.fields.get("S"), e.sqlstate,
                    e.message.replace(user, "<user>"))
        raise AssertionError(f"{user} logged in to {dbname} with {password!r}")


def salt_shown(pooler, user, dbname="itest"):
    """The SCRAM salt and iteration count the pooler shows `user` in its server-first message."""
    with RawClient(pooler.port) as client:
        client.send(h.startup_packet(user, dbname))
        _, payload = client.expect(b"R")
        if struct.unpack("!i", payload[:4])[0] != 10:
            raise AssertionError(f"{user} was not asked for SASL: {payload!r}")
        first = b"n,,n=,r=abcdefghijklmnop"
        client.send(h.message(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(first)) + first))
        _, payload = client.expect(b"R")
        attrs = dict(a.split("=", 1) for a in payload[4:].decode().split(","))
        return attrs["s"], attrs["i"]


def pools(pooler):
    with pooler.connect("scramuser", dbname="pgbouncer") as admin:
        return h.show(admin, "POOLS")[1]


def pool_keys(pooler):
    return {(row["database"], row["user"]) for row in pools(pooler)}


def admin(pooler, command):
    with pooler.connect("scramuser", dbname="pgbouncer") as conn:
        conn.execute(command)


class AuthQuery(unittest.TestCase):
    """Roles, the lookup database and its function are made once; a case that changes a role
    (rotates its password) makes that role for itself."""

    @classmethod
    def setUpClass(cls):
        cls.roles = []
        cls.passwords = {}
        # Auth users: a superuser for the default query (it reads pg_authid), and a plain role
        # that may only execute the lookup function. Both log every statement they run.
        cls.su = cls.make_role("aq_su", "SUPERUSER")
        cls.fn = cls.make_role("aq_fn")
        # Users only the look-up knows.
        cls.scram = cls.make_role("aq_scram")
        cls.md5 = cls.make_role("aq_md5", encryption="md5")
        cls.expired = cls.make_role("aq_expired", "VALID UNTIL '2000-01-01'")
        cls.nologin = cls.make_role("aq_nologin", login=False)
        cls.unknown = h.unique_name("aq_nobody")
        with h.superuser_conn() as c:
            for role in (cls.su, cls.fn):
                c.execute(f"ALTER ROLE {role} SET log_statement = 'all'")
            stored = dict(c.execute("SELECT rolname, rolpassword FROM pg_authid "
                                    "WHERE rolname = ANY(%s)", ([cls.scram, cls.md5],)))
        assert stored[cls.scram].startswith("SCRAM-SHA-256$"), stored
        assert stored[cls.md5].startswith("md5"), stored
        # The lookup function lives in a database of its own, so that a look-up that works
        # proves it ran in auth_dbname (the client's database has no such function).
        cls.lookup_db = h.create_database(prefix="aqlookup")
        with h.superuser_conn(cls.lookup_db) as c:
            c.execute("CREATE SCHEMA aqs")
            c.execute(LOOKUP_FUNCTION)
            c.execute("REVOKE ALL ON FUNCTION aqs.user_lookup(text) FROM PUBLIC")
            c.execute(f"GRANT USAGE ON SCHEMA aqs TO {cls.fn}")
            c.execute(f"GRANT EXECUTE ON FUNCTION aqs.user_lookup(text) TO {cls.fn}")

    @classmethod
    def tearDownClass(cls):
        h.drop_database(cls.lookup_db)
        with h.superuser_conn() as c:
            for role in cls.roles:
                c.execute(f"DROP ROLE IF EXISTS {role}")

    @classmethod
    def make_role(cls, prefix, options="", encryption="scram-sha-256", login=True):
        name = h.unique_name(prefix)
        secret = f"pw-{name}"
        with h.superuser_conn() as c:
            c.execute(f"SET password_encryption = '{encryption}'")
            c.execute(f"CREATE ROLE {name} {'LOGIN' if login else 'NOLOGIN'} "
                      f"PASSWORD {sql_literal(secret)} {options}")
        cls.roles.append(name)
        cls.passwords[name] = secret
        return name

    def own_role(self, prefix, **kwargs):
        """A role for this case alone, dropped when it ends."""
        name = self.make_role(prefix, **kwargs)

        def drop():
            with h.superuser_conn() as c:
                c.execute(f"DROP ROLE IF EXISTS {name}")
        self.addCleanup(drop)
        return name

    def setUp(self):
        h.arm_case_alarm(self, 120)

    def pw(self, user):
        return self.passwords[user]

    def pooler(self, settings, databases=None, auth_users=None):
        """A pooler whose auth_file holds only the auth users (and scramuser, the console's
        admin): every other user must come from the look-up."""
        base = {"auth_type": "md5", "admin_users": "scramuser"}
        base.update(settings)
        if databases is None:
            databases = {"itest": db_line("itest"), "fnlookup": db_line(self.lookup_db)}
        users = [(u, self.pw(u)) for u in (auth_users or (self.su, self.fn))]
        users.append(("scramuser", h.password("scramuser")))
        return Pooler(base, databases=databases, users=users)

    def assert_logs_in(self, pooler, user, method, dbname="itest", server_db="itest"):
        client = login(pooler, user, self.pw(user), dbname)
        self.assertEqual(client.auth_method, method, f"{user}'s login method")
        self.assertEqual(client.rows, [[user, server_db]])

    def assert_same_as_wrong_password(self, pooler, answers, user, password, dbname="itest"):
        """A refusal that tells the client nothing a wrong password would not: 28P01 with the
        message (and method) of a wrong password for a real user."""
        got = refusal(pooler, user, password, dbname)
        self.assertEqual(got[2], "28P01", got)
        self.assertIn(got, answers, f"{user}'s refusal differs from every wrong-password one")
        self.assertNotIn("no such user", got[3])

    def wrong_password_answers(self, pooler, users, dbname="itest"):
        answers = set()
        for user in users:
            got = refusal(pooler, user, "not-the-password", dbname)
            self.assertEqual(got[1:3], ("FATAL", "28P01"), got)
            answers.add(got)
        return answers

    # --- the default query ---

    def test_default_query_scram_user_gets_scram_and_pass_through(self):
        log = PgLog()
        with self.pooler({"auth_user": self.su}) as pooler:
            with open(pooler.auth_file) as f:
                auth_file = f.read()
            self.assertNotIn(self.scram, auth_file)
            self.assertNotIn(self.pw(self.scram), auth_file + pooler.ini_text)
            self.assertNotIn("auth_query", pooler.ini_text)  # the default query
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            # PostgreSQL authenticated the user itself, from the client's SCRAM proof: the
            # pooler was never given the password.
            h.wait_until(lambda: re.search(
                rf"{self.scram}@itest LOG:  connection authorized: user={self.scram} "
                rf"database=itest\b", log.text()), timeout=10,
                message=f"PostgreSQL's log line for {self.scram}'s login")
            with pooler.connect(self.scram, password=self.pw(self.scram)) as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], self.scram)
            # The look-up ran on a pool of its own: (client's database, auth user).
            self.assertIn(("itest", self.su), pool_keys(pooler))

    def test_default_query_md5_user_gets_md5_both_ways(self):
        log = PgLog()
        with self.pooler({"auth_user": self.su}) as pooler:
            self.assert_logs_in(pooler, self.md5, "md5")
            h.wait_until(lambda: re.search(
                rf"{self.md5}@itest LOG:  connection authorized: user={self.md5} "
                rf"database=itest\b", log.text()), timeout=10,
                message=f"PostgreSQL's log line for {self.md5}'s login")
            proc = pooler.psql("SELECT current_user", user=self.md5, password=self.pw(self.md5))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), self.md5)

    def test_default_query_refusals_look_like_a_wrong_password(self):
        # scram-sha-256: one method for everyone, so one answer for every refusal.
        with self.pooler({"auth_type": "scram-sha-256", "auth_user": self.su}) as pooler:
            answers = self.wrong_password_answers(pooler, [self.scram])
            self.assertEqual({a[0] for a in answers}, {"scram-sha-256"})
            for user in (self.expired, self.unknown, self.nologin):
                with self.subTest(auth_type="scram-sha-256", user=user):
                    # The right password of an expired or non-login role is still refused.
                    self.assert_same_as_wrong_password(
                        pooler, answers, user, self.passwords.get(user, "some-password"))
            # Mock authentication: a user the look-up does not find is shown a salt that stays
            # the same across attempts, as a real user's does.
            for user in (self.scram, self.unknown, self.expired):
                with self.subTest(salt_of=user):
                    first = salt_shown(pooler, user)
                    self.assertEqual(salt_shown(pooler, user), first)
                    self.assertEqual(first[1], "4096")
            proc = pooler.psql("SELECT 1", user=self.unknown, password="x")
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn("SASL authentication failed", proc.stderr)
            self.assertNotIn("no such user", proc.stderr)
        # md5: a refusal is the wrong-password answer of a SCRAM user or of an md5 user.
        with self.pooler({"auth_type": "md5", "auth_user": self.su}) as pooler:
            answers = self.wrong_password_answers(pooler, [self.scram, self.md5])
            self.assertEqual({a[0] for a in answers}, {"scram-sha-256", "md5"}, answers)
            for user in (self.expired, self.unknown, self.nologin):
                with self.subTest(auth_type="md5", user=user):
                    self.assert_same_as_wrong_password(
                        pooler, answers, user, self.passwords.get(user, "some-password"))
            # The refused ones did not unsettle the pooler.
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")

    # --- the SECURITY DEFINER function PgBouncer's docs recommend ---

    def test_security_definer_function_in_auth_dbname(self):
        # The auth user cannot read pg_authid itself: only the function can.
        with psycopg.connect(host=h.HOST, port=h.pg_port(), user=self.fn,
                             password=self.pw(self.fn), dbname=self.lookup_db, sslmode="disable",
                             autocommit=True, connect_timeout=10) as conn:
            with self.assertRaises(psycopg.errors.InsufficientPrivilege):
                conn.execute("SELECT rolpassword FROM pg_authid")
            row = conn.execute(FUNCTION_QUERY.replace("$1", "%s"), (self.scram,)).fetchone()
            self.assertEqual(row[0], self.scram)
            # An unknown user gives one row of NULLs, not no row.
            self.assertEqual(conn.execute(FUNCTION_QUERY.replace("$1", "%s"),
                                          (self.unknown,)).fetchall(), [(None, None)])
        settings = {"auth_user": self.fn, "auth_query": FUNCTION_QUERY,
                    "auth_dbname": "fnlookup"}
        with self.pooler(settings) as pooler:
            # Clients ask for itest, which has no aqs schema: the look-up ran in fnlookup.
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            self.assert_logs_in(pooler, self.md5, "md5")
            keys = pool_keys(pooler)
            self.assertIn(("fnlookup", self.fn), keys)
            self.assertNotIn(("itest", self.fn), keys)
            answers = self.wrong_password_answers(pooler, [self.scram, self.md5])
            for user in (self.expired, self.unknown, self.nologin):
                with self.subTest(user=user):
                    self.assert_same_as_wrong_password(
                        pooler, answers, user, self.passwords.get(user, "some-password"))
            proc = pooler.psql("SELECT current_user", user=self.scram,
                               password=self.pw(self.scram))
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertEqual(proc.stdout.strip(), self.scram)

    # --- auth_type = md5 with a SCRAM secret ---

    def test_md5_auth_type_with_a_scram_secret_asks_for_scram_psql_psycopg_node(self):
        with self.pooler({"auth_type": "md5", "auth_user": self.su}) as pooler:
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            proc = pooler.psql("SELECT current_user", user=self.scram,
                               password=self.pw(self.scram))
            self.assertEqual(proc.returncode, 0, f"psql: {proc.stderr}")
            self.assertEqual(proc.stdout.strip(), self.scram)
            with pooler.connect(self.scram, password=self.pw(self.scram)) as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], self.scram)
            top = h.node_pg_dir()
            script = os.path.join(top, "auth_query_login.js")
            with open(script, "w") as f:
                f.write(NODE_SCRIPT)
            cfg = {"host": h.HOST, "port": pooler.port, "user": self.scram, "database": "itest",
                   "password": self.pw(self.scram)}
            proc = subprocess.run(["node", script, json.dumps(cfg)], capture_output=True,
                                  text=True, timeout=60, cwd=top)
            self.assertEqual(proc.returncode, 0, f"node pg: {proc.stderr}")
            self.assertEqual(json.loads(proc.stdout), {"user": self.scram})

    # --- the cache ---

    def test_a_rotated_password_works_by_the_next_login(self):
        for prefix, encryption, method in (("aq_rot_scram", "scram-sha-256", "scram-sha-256"),
                                           ("aq_rot_md5", "md5", "md5")):
            with self.subTest(encryption=encryption), \
                    self.pooler({"auth_user": self.su}) as pooler:
                user = self.own_role(prefix, encryption=encryption)
                old = self.pw(user)
                new = old + "-rotated"
                self.assert_logs_in(pooler, user, method)  # the old secret is cached now
                with h.superuser_conn() as c:
                    c.execute(f"SET password_encryption = '{encryption}'")
                    c.execute(f"ALTER ROLE {user} PASSWORD {sql_literal(new)}")
                # The first login with the new password may fail against the cached secret
                # (it triggers a new look-up); the second must not.
                try:
                    first = login(pooler, user, new)
                except h.PgError as e:
                    self.assertEqual(e.sqlstate, "28P01", e.fields)
                    first = login(pooler, user, new)
                self.assertEqual(first.rows, [[user, "itest"]])
                self.assertEqual(first.auth_method, method)
                # From now on the new password works at once and the old one never.
                self.assertEqual(login(pooler, user, new).rows, [[user, "itest"]])
                got = refusal(pooler, user, old)
                self.assertEqual(got[2], "28P01", got)
                self.assertEqual(login(pooler, user, new).rows, [[user, "itest"]])

    def test_connect_per_transaction_burst_costs_few_lookups(self):
        user = self.own_role("aq_bench")
        marker = h.unique_name("aqmark_bench")
        log = PgLog()
        settings = {"auth_user": self.su, "auth_query": marked_query(marker)}
        with self.pooler(settings) as pooler, tempfile.TemporaryDirectory() as tmp:
            script = os.path.join(tmp, "select.sql")
            with open(script, "w") as f:
                f.write("SELECT 1;\n")
            proc = pooler.pgbench("-n", "-C", "-c", "2", "-t", "100", "-f", script,
                                  user=user, password=self.pw(user), dbname="itest")
            processed, failed = h.pgbench_counts(self, proc)
            self.assertEqual((processed, failed), (200, 0))
            lookups = log.wait_lookups(marker, 1)
            lookups = log.settled_lookups(marker)
            # 200 logins; one look-up per login would be 200.
            self.assertLessEqual(lookups, 10, f"{lookups} look-ups for 200 logins")

    def test_reload_and_reconnect_clear_the_cache(self):
        marker = h.unique_name("aqmark_cache")
        log = PgLog()
        settings = {"auth_user": self.su, "auth_query": marked_query(marker)}
        with self.pooler(settings) as pooler:
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            self.assertEqual(log.wait_lookups(marker, 1), 1)
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            self.assertEqual(log.settled_lookups(marker), 1, "a cached login looked up again")
            count = 1
            for command in ("RELOAD", "RECONNECT"):
                with self.subTest(command=command):
                    admin(pooler, command)
                    self.assert_logs_in(pooler, self.scram, "scram-sha-256")
                    got = log.wait_lookups(marker, count + 1)
                    self.assertEqual(got, count + 1, f"look-ups after {command}")
                    count = got
                    self.assert_logs_in(pooler, self.scram, "scram-sha-256")
                    self.assertEqual(log.settled_lookups(marker), count,
                                     f"the login after {command}'s look-up was not cached")

    # --- the look-up's own pool ---

    FULL_POOL = {"pool_mode": "session", "default_pool_size": 1, "reserve_pool_size": 0,
                 "query_wait_timeout": 60}

    def test_lookup_does_not_wait_behind_the_auth_users_own_clients(self):
        with self.pooler({"auth_user": self.su, **self.FULL_POOL}) as pooler:
            # The auth user itself (in auth_file) logs in as a client and holds the only
            # server of (itest, auth user) in a session: a look-up borrowing that pool would
            # wait for it (up to query_wait_timeout).
            holder = pooler.connect(self.su, password=self.pw(self.su), autocommit=False)
            try:
                holder.execute("SELECT 1")
                started = time.monotonic()
                with RawClient(pooler.port, timeout=8) as client:
                    try:
                        client.login(self.scram, "itest", self.pw(self.scram))
                    except TimeoutError:
                        self.fail("the login through auth_query got no answer in 8 s while the "
                                  "auth user's own client session held its only server")
                    self.assertEqual(client.query("SELECT current_user"), [[self.scram]])
                self.assertLess(time.monotonic() - started, 5)
                # The holder's session is still its own.
                self.assertEqual(holder.execute("SELECT current_user").fetchone()[0], self.su)
            finally:
                holder.close()

    def test_login_needing_a_lookup_completes_while_the_clients_pool_is_full(self):
        # Transaction mode: a session-mode login is itself given its server (whose pid it is
        # told), so there it would rightly wait for the holder.
        full = {**self.FULL_POOL, "pool_mode": "transaction"}
        with self.pooler({"auth_user": self.su, **full}) as pooler:
            holder = RawClient(pooler.port, timeout=15)
            waiter = None
            try:
                holder.login(self.scram, "itest", self.pw(self.scram))
                holder.query("BEGIN")  # the only server of (itest, aq_scram) is taken
                admin(pooler, "RELOAD")  # empties the cache: the next login looks up
                waiter = RawClient(pooler.port, timeout=10)
                waiter.login(self.scram, "itest", self.pw(self.scram))
                waiter.send_query("SELECT 'served'")
                waiter.sock.settimeout(1)
                with self.assertRaises(socket.timeout):
                    waiter.read()  # no server yet: the holder has it
                holder.query("COMMIT")
                holder.close()
                waiter.sock.settimeout(15)
                rows, error = waiter.read_result()
                self.assertIsNone(error)
                self.assertEqual(rows, [["served"]])
            finally:
                holder.close()
                if waiter is not None:
                    waiter.close()

    # --- look-ups that fail ---

    def test_a_failing_lookup_refuses_every_user_alike(self):
        # The default query needs pg_authid, which the function's auth user may not read.
        with self.pooler({"auth_user": self.fn}) as pooler:
            answers = []
            for user in (self.scram, self.unknown):
                with self.subTest(user=user):
                    started = time.monotonic()
                    got = refusal(pooler, user, self.passwords.get(user, "some-password"))
                    self.assertLess(time.monotonic() - started, 10)
                    answers.append(got[1:])
            self.assertEqual(answers[0], answers[1], "a failed look-up tells users apart")
            self.assertEqual(answers[0][0], "FATAL")
            h.wait_until(lambda: "permission denied" in pooler.log(), timeout=5,
                         message="PostgreSQL's reason in the pooler's log")
            self.assertTrue(pooler.alive())
            self.assertEqual(pooler.psql("SELECT 1", password=h.password("scramuser"),
                                         check=True).stdout.strip(), "1")

    def test_a_lookup_without_an_answer_times_out(self):
        # A server that accepts the TCP connection and never says a word.
        silent = socket.socket()
        silent.bind((h.HOST, 0))
        silent.listen(16)
        self.addCleanup(silent.close)
        databases = {"itest": db_line("itest"),
                     "deadlookup": f"host={h.HOST} port={silent.getsockname()[1]} dbname=x"}
        settings = {"auth_user": self.su, "auth_dbname": "deadlookup",
                    "server_connect_timeout": 1, "query_wait_timeout": 1}
        with self.pooler(settings, databases=databases) as pooler:
            started = time.monotonic()
            with RawClient(pooler.port, timeout=20) as client:
                with self.assertRaises(h.PgError) as caught:
                    client.login(self.scram, "itest", self.pw(self.scram))
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 8, f"the look-up took {elapsed:.1f} s to give up")
            self.assertGreater(elapsed, 0.5, "refused without waiting for the look-up")
            self.assertEqual(caught.exception.fields.get("S"), "FATAL")
            # The look-up did go to auth_dbname's server (it sits in the listen backlog).
            silent.settimeout(0)
            peer, _ = silent.accept()
            peer.close()
            self.assertTrue(pooler.alive())

    # --- auth_user per database ---

    def test_auth_user_per_database_with_its_own_query_and_auth_dbname(self):
        fn_opts = {"auth_user": self.fn, "auth_query": FUNCTION_QUERY}
        databases = {
            "itest": db_line("itest"),
            "aqdb": db_line(self.lookup_db, **fn_opts),
            "viafn": db_line("itest", auth_dbname="aqdb", **fn_opts),
        }
        with self.pooler({}, databases=databases) as pooler:
            self.assert_logs_in(pooler, self.scram, "scram-sha-256", dbname="aqdb",
                                server_db=self.lookup_db)
            # viafn's database has no function: its look-up runs in aqdb.
            self.assert_logs_in(pooler, self.md5, "md5", dbname="viafn")
            keys = pool_keys(pooler)
            self.assertIn(("aqdb", self.fn), keys)
            self.assertNotIn(("viafn", self.fn), keys)
            # No global auth_user: itest knows only auth_file's users.
            answers = self.wrong_password_answers(pooler, [self.scram], dbname="aqdb")
            got = refusal(pooler, self.scram, self.pw(self.scram), dbname="itest")
            self.assertEqual(got[2], "28P01", got)
            self.assert_same_as_wrong_password(pooler, answers, self.unknown, "x", dbname="aqdb")
        # A database's auth_user overrides the global one.
        with self.pooler({"auth_user": self.su}, databases=databases) as pooler:
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            self.assert_logs_in(pooler, self.scram, "scram-sha-256", dbname="aqdb",
                                server_db=self.lookup_db)
            keys = pool_keys(pooler)
            self.assertIn(("itest", self.su), keys)
            self.assertIn(("aqdb", self.fn), keys)
            self.assertNotIn(("aqdb", self.su), keys)

    def test_fallback_database_with_auth_user(self):
        databases = {"*": db_line(None, auth_user=self.su)}
        with self.pooler({}, databases=databases) as pooler:
            self.assert_logs_in(pooler, self.scram, "scram-sha-256")
            self.assert_logs_in(pooler, self.md5, "md5", dbname=self.lookup_db,
                                server_db=self.lookup_db)
            got = refusal(pooler, self.unknown, "x")
            self.assertEqual(got[2], "28P01", got)


if __name__ == "__main__":
    h.main()
