#!/usr/bin/python3
"""Named prepared statements in transaction and statement pool mode (max_prepared_statements,
PgBouncer 1.21+'s semantics): drivers that prepare (psycopg with prepare_threshold=0, asyncpg's
statement cache, pgbench -M prepared) work with many more clients than servers; hand-built
Parse/Bind/Execute/Sync pipelines check what the pooler does with the names: two clients' same
name for different queries, one server statement shared by many clients, the LRU bound per
server, Close, DEALLOCATE and DISCARD ALL, unknown names, errors and Flush in a pipeline, the
counters in SHOW STATS / CLIENTS / SERVERS, max_prepared_statements = 0 and session mode
passing statements through untouched."""

import asyncio
import re
import struct
import threading
import unittest

import asyncpg
import psycopg

import harness as h
from harness import Pooler, RawClient

DB = None  # the cluster's database, read once the harness knows the state


def db():
    global DB
    if DB is None:
        DB = h.state()["database"]
    return DB


def tx_settings(pool_size, **more):
    settings = {"pool_mode": "transaction", "default_pool_size": pool_size,
                "max_client_conn": 100, "query_wait_timeout": 60, "admin_users": "scramuser"}
    settings.update(more)
    return settings


# --- frontend messages, built by hand so the cases control every statement name ---

def cstr(s):
    return s.encode() + b"\0"


def parse(name, query, types=()):
    return h.message(b"P", cstr(name) + cstr(query) + struct.pack("!h", len(types)) +
                     b"".join(struct.pack("!i", t) for t in types))


def bind(statement, params=(), portal=""):
    body = cstr(portal) + cstr(statement) + struct.pack("!h", 0) + struct.pack("!h", len(params))
    for p in params:
        if p is None:
            body += struct.pack("!i", -1)
        else:
            data = str(p).encode()
            body += struct.pack("!i", len(data)) + data
    return h.message(b"B", body + struct.pack("!h", 0))


def execute(portal="", max_rows=0):
    return h.message(b"E", cstr(portal) + struct.pack("!i", max_rows))


def describe(kind, name):
    return h.message(b"D", kind + cstr(name))


def close(kind, name):
    return h.message(b"C", kind + cstr(name))


SYNC = h.message(b"S")
FLUSH = h.message(b"H")


def data_row(payload):
    count = struct.unpack("!h", payload[:2])[0]
    pos, row = 2, []
    for _ in range(count):
        length = struct.unpack("!i", payload[pos:pos + 4])[0]
        pos += 4
        if length < 0:
            row.append(None)
        else:
            row.append(payload[pos:pos + length].decode())
            pos += length
    return row


def describe_messages(msgs):
    """A readable list of backend messages, for failure output."""
    out = []
    for kind, payload in msgs:
        if kind in (b"E", b"N"):
            f = h.error_fields(payload)
            out.append(f"{kind.decode()}({f.get('C')}: {f.get('M')})")
        elif kind == b"D":
            out.append(f"D{data_row(payload)}")
        elif kind == b"C":
            out.append("C(" + payload.rstrip(b"\0").decode() + ")")
        elif kind == b"Z":
            out.append(f"Z({payload.decode()})")
        else:
            out.append(kind.decode())
    return " ".join(out)


def kinds(msgs):
    return "".join(kind.decode() for kind, _ in msgs)


def errors(msgs):
    return [h.error_fields(p) for k, p in msgs if k == b"E"]


def rows(msgs):
    return [data_row(p) for k, p in msgs if k == b"D"]


class Client:
    """A RawClient logged in through the pooler, speaking the extended protocol by hand."""

    def __init__(self, pooler, timeout=20):
        self.raw = RawClient(pooler.port, timeout=timeout)
        self.raw.login("scramuser", db(), h.password("scramuser"))

    def close(self):
        try:
            self.raw.send(h.message(b"X"))
        except OSError:
            pass
        self.raw.close()

    def read_until_ready(self):
        msgs = []
        while True:
            kind, payload = self.raw.read()
            if kind == b"N":
                continue
            msgs.append((kind, payload))
            if kind == b"Z":
                return msgs

    def read_n(self, n):
        """Exactly n messages (notices aside): what must arrive before any Sync."""
        msgs = []
        while len(msgs) < n:
            kind, payload = self.raw.read()
            if kind != b"N":
                msgs.append((kind, payload))
        return msgs

    def exchange(self, *messages):
        """Sends the messages (the last one a Sync) in one write; the replies up to
        ReadyForQuery."""
        self.raw.send(b"".join(messages))
        return self.read_until_ready()

    def ok(self, *messages):
        """exchange() that fails on an ErrorResponse, naming every message seen."""
        msgs = self.exchange(*messages)
        if errors(msgs):
            raise h.PgError(errors(msgs)[0]) from AssertionError(describe_messages(msgs))
        return msgs

    def prepare(self, name, query, types=()):
        msgs = self.ok(parse(name, query, types), SYNC)
        if kinds(msgs) != "1Z":
            raise AssertionError(f"Parse {name!r}: {describe_messages(msgs)}")

    def run(self, name, params=()):
        """Bind/Execute/Sync of a prepared name: its rows."""
        msgs = self.ok(bind(name, params), execute(), SYNC)
        if kinds(msgs)[:1] != "2" or kinds(msgs)[-2:] != "CZ":
            raise AssertionError(f"Bind {name!r}: {describe_messages(msgs)}")
        return rows(msgs)

    def query(self, sql):
        return self.raw.query(sql)

    def server_statements(self):
        """(name, statement) of what the server this client's query lands on holds."""
        return [tuple(r) for r in self.query(
            "SELECT name, statement FROM pg_prepared_statements ORDER BY name")]


def admin(pooler):
    return pooler.connect("scramuser", dbname="pgbouncer", prepare_threshold=None)


def stats_row(conn, database):
    _, table = h.show(conn, "STATS")
    for row in table:
        if row["database"] == database:
            return {k: (int(v) if isinstance(v, (int, str)) and str(v).isdigit() else v)
                    for k, v in row.items()}
    raise AssertionError(f"SHOW STATS has no row for {database}: {table}")


def show_rows(conn, what, database):
    _, table = h.show(conn, what)
    return [r for r in table if r["database"] == database]


def run_threads(n, target):
    """Runs target(i) on n threads; the exceptions they raised, by thread."""
    failures = []
    lock = threading.Lock()

    def wrapper(i):
        try:
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported to the case
            with lock:
                failures.append((i, e))

    threads = [threading.Thread(target=wrapper, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    alive = [t for t in threads if t.is_alive()]
    if alive:
        failures.append((-1, AssertionError(f"{len(alive)} client threads still running")))
    return failures


def describe_failures(failures):
    return "\n".join(f"client {i}: {type(e).__name__}: {e}" for i, e in failures[:10]) + (
        f"\n... {len(failures)} failures in all" if len(failures) > 10 else "")


class Case(unittest.TestCase):
    def setUp(self):
        h.arm_case_alarm(self, 150)

    def clients(self, pooler, n):
        cs = [Client(pooler) for _ in range(n)]
        for c in cs:
            self.addCleanup(c.close)
        return cs


class Drivers(Case):
    """Real drivers that name their statements, many clients on few servers."""

    def test_psycopg_prepare_threshold_0_twelve_clients_on_three_servers(self):
        iterations = 120

        def client(n):
            with pooler.connect("scramuser", prepare_threshold=0) as conn:
                for i in range(iterations):
                    self.assertEqual(conn.execute("SELECT %s::int + 1", (i,)).fetchone()[0],
                                     i + 1)
                    self.assertEqual(conn.execute("SELECT %s::text || '-' || %s::int",
                                                  (f"c{n}", i)).fetchone()[0], f"c{n}-{i}")
                    if i % 10 == 0:
                        conn.autocommit = False
                        with conn.transaction():
                            self.assertEqual(conn.execute("SELECT %s::int * 3",
                                                          (i,)).fetchone()[0], 3 * i)
                            self.assertEqual(conn.execute("SELECT %s::int + 1",
                                                          (n,)).fetchone()[0], n + 1)
                        conn.commit()
                        conn.autocommit = True

        with Pooler(tx_settings(3)) as pooler:
            failures = run_threads(12, client)
            self.assertEqual(failures, [], describe_failures(failures))
            with admin(pooler) as a:
                st = stats_row(a, db())
            # Three texts per client (the transaction reuses one), each a named Parse.
            self.assertGreaterEqual(st["total_client_parse_count"], 12 * 3, st)

    def test_asyncpg_default_statement_cache_twelve_connections_on_three_servers(self):
        iterations = 80

        async def client(pooler, n):
            conn = await asyncpg.connect(host=h.HOST, port=pooler.port, user="scramuser",
                                         password=h.password("scramuser"), database=db(),
                                         ssl=False, command_timeout=60)
            try:
                stmt = await conn.prepare("SELECT $1::int - 1, $2::text")
                for i in range(iterations):
                    self.assertEqual(await conn.fetchval("SELECT $1::int * 2", i), 2 * i)
                    self.assertEqual(await conn.fetchval("SELECT $1::text || $2::text",
                                                         f"a{n}", str(i)), f"a{n}{i}")
                    got = await stmt.fetch(i, f"s{n}")
                    self.assertEqual([tuple(r) for r in got], [(i - 1, f"s{n}")])
                    if i % 10 == 0:
                        async with conn.transaction():
                            self.assertEqual(await conn.fetchval("SELECT $1::int + 100", i),
                                             i + 100)
                            self.assertEqual(await stmt.fetchval(n, "t"), n - 1)
            finally:
                await conn.close()

        async def main(pooler):
            return await asyncio.gather(*(client(pooler, n) for n in range(12)),
                                        return_exceptions=True)

        with Pooler(tx_settings(3)) as pooler:
            results = asyncio.run(main(pooler))
            failures = [(n, r) for n, r in enumerate(results) if isinstance(r, BaseException)]
            self.assertEqual(failures, [], describe_failures(failures))

    def test_psycopg_statement_mode_eight_clients_on_two_servers(self):
        iterations = 100

        def client(n):
            with pooler.connect("scramuser", prepare_threshold=0) as conn:
                for i in range(iterations):
                    self.assertEqual(conn.execute("SELECT %s::int + %s::int",
                                                  (i, n)).fetchone()[0], i + n)
                    self.assertEqual(conn.execute("SELECT upper(%s::text)",
                                                  (f"s{n}x{i}",)).fetchone()[0],
                                     f"S{n}X{i}")

        with Pooler(tx_settings(2, pool_mode="statement")) as pooler:
            failures = run_threads(8, client)
            self.assertEqual(failures, [], describe_failures(failures))


class Pgbench(h.PgbenchDatabaseCase, Case):
    db_prefix = "pspgbench"

    def setUp(self):
        Case.setUp(self)

    def test_pgbench_prepared_builtin_scripts_twenty_clients_on_three_servers(self):
        databases = {self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"}
        # BEGIN, three UPDATEs, SELECT, INSERT, END: tpcb-like's and simple-update's commands
        # (select-only has one); pgbench -M prepared names each per connection.
        statements = {"select-only": 1, "simple-update": 5, "tpcb-like": 7}
        for script, count in statements.items():
            with self.subTest(script=script), \
                    Pooler(tx_settings(3), databases=databases) as pooler:
                # One thread per client: pgbench prepares with a blocking PQprepare, so a thread
                # whose client waits for a server cannot run the clients that hold the servers
                # (a deadlock with any transaction pooler whose pool is smaller than a thread's
                # clients).
                proc = pooler.pgbench("-M", "prepared", "-b", script, "-c", "20", "-j", "20",
                                      "-t", "40", dbname=self.db, timeout=120)
                processed, failed = h.pgbench_counts(self, proc)
                self.assertEqual((processed, failed), (20 * 40, 0), proc.stdout[-2000:])
                with admin(pooler) as a:
                    st = stats_row(a, self.db)
                    servers = len(show_rows(a, "SERVERS", self.db))
                self.assertGreaterEqual(st["total_client_parse_count"], 20 * count, st)
                # Each server prepares each text once; the 20 clients' Parses share them.
                self.assertLessEqual(st["total_server_parse_count"], 3 * count + count, st)
                self.assertLessEqual(servers, 3)


class Names(Case):
    """Hand-built pipelines: whose name means what, on which server."""

    def test_two_clients_same_name_different_queries_on_one_server(self):
        with Pooler(tx_settings(1)) as pooler:
            a, b = self.clients(pooler, 2)
            a.prepare("s", "SELECT 'from-a:' || $1::text")
            b.prepare("s", "SELECT 'from-b:' || ($1::int * 10)::text")
            for i in range(3):
                self.assertEqual(a.run("s", [f"x{i}"]), [[f"from-a:x{i}"]])
                self.assertEqual(b.run("s", [i]), [[f"from-b:{i * 10}"]])
            pid_a, pid_b = a.query("SELECT pg_backend_pid()"), b.query("SELECT pg_backend_pid()")
            self.assertEqual(pid_a, pid_b, "a pool of 1 has one server")
            held = a.server_statements()
            # The server knows them by the pooler's names, never the clients' "s".
            self.assertEqual(len(held), 2, held)
            for name, _ in held:
                self.assertRegex(name, r"^pooler_\d+$", held)

    def test_lru_bound_two_statements_per_server(self):
        with Pooler(tx_settings(1, max_prepared_statements=2)) as pooler:
            c, = self.clients(pooler, 1)
            seen = []
            for n in (1, 2, 3):
                c.prepare(f"s{n}", f"SELECT {n} * $1::int")
                seen.append(len(c.server_statements()))
            for round_ in range(2):
                for n in (1, 2, 3):
                    self.assertEqual(c.run(f"s{n}", [10 + round_]), [[str(n * (10 + round_))]])
                    seen.append(len(c.server_statements()))
            self.assertLessEqual(max(seen), 2, f"pg_prepared_statements counts: {seen}")
            with admin(pooler) as a:
                servers = show_rows(a, "SERVERS", db())
                clients = show_rows(a, "CLIENTS", db())
            self.assertEqual([s["prepared_statements"] for s in servers], [2], servers)
            self.assertEqual([x["prepared_statements"] for x in clients], [3], clients)

    def test_close_drops_only_the_clients_own_name(self):
        text = "SELECT 42::int AS shared, $1::text AS tag"
        count_sql = ("SELECT count(*) FROM pg_prepared_statements WHERE statement = "
                     f"'{text}'")
        with Pooler(tx_settings(1)) as pooler:
            a, b = self.clients(pooler, 2)
            a.prepare("a_s", text)
            b.prepare("b_s", text)
            # One server statement serves both clients.
            self.assertEqual(a.query(count_sql), [["1"]], a.server_statements())
            msgs = a.ok(close(b"S", "a_s"), SYNC)
            self.assertEqual(kinds(msgs), "3Z", describe_messages(msgs))
            self.assertEqual(b.run("b_s", ["b"]), [["42", "b"]])
            self.assertEqual(b.query(count_sql), [["1"]], "b's statement stays on the server")
            msgs = a.exchange(bind("a_s", ["a"]), execute(), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["C"], "26000", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["M"], 'prepared statement "a_s" does not exist')
            self.assertEqual(b.run("b_s", ["again"]), [["42", "again"]])
            self.assertEqual(a.query("SELECT 1"), [["1"]])

    def test_deallocate_all_deallocate_name_and_discard_all(self):
        with Pooler(tx_settings(1)) as pooler:
            a, b = self.clients(pooler, 2)
            a.prepare("s1", "SELECT 'one'")
            a.prepare("s2", "SELECT 'two'")
            b.prepare("b1", "SELECT 'one'")
            b.prepare("b2", "SELECT 'b-two'")

            msgs = a.exchange(h.message(b"Q", cstr("DEALLOCATE ALL")))
            self.assertEqual(kinds(msgs), "CZ", describe_messages(msgs))
            self.assertEqual(msgs[0][1], cstr("DEALLOCATE ALL"))
            for name in ("s1", "s2"):
                msgs = a.exchange(bind(name), execute(), SYNC)
                self.assertEqual([e["C"] for e in errors(msgs)], ["26000"],
                                 f"{name} after DEALLOCATE ALL: {describe_messages(msgs)}")
            # The other client's statements on the same server are untouched.
            self.assertEqual(b.run("b1"), [["one"]])
            self.assertEqual(b.run("b2"), [["b-two"]])
            # The names are free again, for other queries.
            a.prepare("s1", "SELECT 'one again'")
            a.prepare("s2", "SELECT 'two again'")
            self.assertEqual(a.run("s1"), [["one again"]])
            self.assertEqual(a.run("s2"), [["two again"]])

            msgs = a.exchange(h.message(b"Q", cstr("DEALLOCATE s1")))
            self.assertEqual(kinds(msgs), "CZ", describe_messages(msgs))
            self.assertEqual(msgs[0][1], cstr("DEALLOCATE"))
            msgs = a.exchange(bind("s1"), execute(), SYNC)
            self.assertEqual([e["C"] for e in errors(msgs)], ["26000"], describe_messages(msgs))
            self.assertEqual(a.run("s2"), [["two again"]])
            # DEALLOCATE of a name this client never prepared: PostgreSQL's error.
            msgs = a.exchange(h.message(b"Q", cstr("DEALLOCATE b2")))
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["C"], "26000")
            self.assertEqual(b.run("b2"), [["b-two"]])

            msgs = a.exchange(h.message(b"Q", cstr("DISCARD ALL")))
            self.assertEqual(kinds(msgs), "CZ", describe_messages(msgs))
            self.assertEqual(msgs[0][1], cstr("DISCARD ALL"))
            msgs = a.exchange(bind("s2"), execute(), SYNC)
            self.assertEqual([e["C"] for e in errors(msgs)], ["26000"], describe_messages(msgs))
            self.assertEqual(b.run("b1"), [["one"]])
            self.assertEqual(b.run("b2"), [["b-two"]])
            a.prepare("s2", "SELECT 'two after discard'")
            self.assertEqual(a.run("s2"), [["two after discard"]])
            with admin(pooler) as adm:
                clients = {c["port"]: c["prepared_statements"]
                           for c in show_rows(adm, "CLIENTS", db())}
            self.assertEqual(sorted(clients.values()), [1, 2], clients)

    def test_psycopg_deallocate_all_as_a_simple_query(self):
        # psycopg 3.1 neither notices a DEALLOCATE ALL of the user's (it would prepare the
        # command itself under prepare_threshold=0, so it goes as prepare=False) nor clears its
        # own cache for it: its next use of an old name fails as it does on PostgreSQL itself,
        # and a ROLLBACK makes it start afresh. The other client never notices.
        with Pooler(tx_settings(1)) as pooler:
            with pooler.connect("scramuser", prepare_threshold=0, autocommit=False) as a, \
                    pooler.connect("scramuser", prepare_threshold=0) as b:
                self.assertEqual(a.execute("SELECT %s::int + 1", (1,)).fetchone()[0], 2)
                a.commit()
                self.assertEqual(b.execute("SELECT %s::int + 1", (2,)).fetchone()[0], 3)
                self.assertEqual(b.execute("SELECT %s::int * 5", (2,)).fetchone()[0], 10)
                a.execute("DEALLOCATE ALL", prepare=False)
                a.commit()
                self.assertEqual(b.execute("SELECT %s::int + 1", (5,)).fetchone()[0], 6)
                self.assertEqual(a.execute("SELECT %s::int - 1", (5,)).fetchone()[0], 4)
                a.commit()
                with self.assertRaises(psycopg.errors.InvalidSqlStatementName):
                    a.execute("SELECT %s::int + 1", (1,))
                a.rollback()
                self.assertEqual(b.execute("SELECT %s::int * 5", (3,)).fetchone()[0], 15)

    def test_psycopg_rollback_deallocate_all_leaves_other_clients_statements(self):
        # After a ROLLBACK psycopg clears its cache and sends DEALLOCATE ALL over the extended
        # protocol (an unnamed Parse, as _exec_command does), not as a simple query. That must
        # not cost another client on the same server its statements.
        with Pooler(tx_settings(1)) as pooler:
            with pooler.connect("scramuser", prepare_threshold=0, autocommit=False) as a, \
                    pooler.connect("scramuser", prepare_threshold=0) as b:
                self.assertEqual(b.execute("SELECT %s::int + 10", (1,)).fetchone()[0], 11)
                self.assertEqual(a.execute("SELECT %s::int + 20", (1,)).fetchone()[0], 21)
                a.rollback()
                # psycopg's DEALLOCATE ALL goes out before this statement.
                self.assertEqual(a.execute("SELECT %s::int + 20", (2,)).fetchone()[0], 22)
                a.commit()
                self.assertEqual(b.execute("SELECT %s::int + 10", (2,)).fetchone()[0], 12)
                self.assertEqual(a.execute("SELECT %s::int + 20", (3,)).fetchone()[0], 23)
                a.commit()

    def test_unknown_statement_name(self):
        with Pooler(tx_settings(1)) as pooler:
            c, other = self.clients(pooler, 2)
            other.prepare("y", "SELECT 'other'")
            msgs = c.exchange(bind("x"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            e = errors(msgs)[0]
            self.assertEqual((e["C"], e["M"]), ("26000", 'prepared statement "x" does not exist'))
            # Another client's name is no more this client's than a name never used.
            msgs = c.exchange(bind("y"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["M"], 'prepared statement "y" does not exist')
            msgs = c.exchange(describe(b"S", "x"), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["C"], "26000")
            # Closing a statement that does not exist is no error in PostgreSQL.
            msgs = c.exchange(close(b"S", "x"), SYNC)
            self.assertEqual(kinds(msgs), "3Z", describe_messages(msgs))
            self.assertEqual(c.query("SELECT 1"), [["1"]])
            c.prepare("x", "SELECT 'now it exists'")
            self.assertEqual(c.run("x"), [["now it exists"]])
            msgs = c.ok(describe(b"S", "x"), SYNC)
            self.assertEqual(kinds(msgs), "tTZ", describe_messages(msgs))
            self.assertEqual(other.run("y"), [["other"]])


class Pipelines(Case):
    def test_error_in_a_pipeline_skips_to_sync(self):
        with Pooler(tx_settings(1)) as pooler:
            c, = self.clients(pooler, 1)
            msgs = c.exchange(parse("s1", "SELECT 1"), bind("s1"), execute(),
                              parse("bad", "SELEC 1"), bind("bad"), execute(),
                              parse("s3", "SELECT 3"), bind("s3"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "12DCEZ", describe_messages(msgs))
            self.assertEqual(rows(msgs), [["1"]])
            self.assertEqual(errors(msgs)[0]["C"], "42601", describe_messages(msgs))
            for name in ("bad", "s3"):
                msgs = c.exchange(bind(name), execute(), SYNC)
                self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
                self.assertEqual(errors(msgs)[0]["M"],
                                 f'prepared statement "{name}" does not exist')
            self.assertEqual(c.run("s1"), [["1"]])
            c.prepare("s3", "SELECT 3")
            self.assertEqual(c.run("s3"), [["3"]])

    def test_skipped_parse_of_a_text_the_server_already_holds(self):
        # The pooler could answer a's Parse of "SELECT 3" itself (b made the server prepare that
        # text), but PostgreSQL would have skipped it after the error: no ParseComplete, and the
        # name is not a's afterwards. (PostgreSQL plans a1 at Bind and folds 1 / 0 there, so the
        # error answers the Bind: no BindComplete either, as a direct connection shows.)
        with Pooler(tx_settings(1)) as pooler:
            a, b = self.clients(pooler, 2)
            b.prepare("b3", "SELECT 3")
            msgs = a.exchange(parse("a1", "SELECT 1 / $1::int"), bind("a1", [0]), execute(),
                              parse("a3", "SELECT 3"), bind("a3"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "1EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["C"], "22012", describe_messages(msgs))
            msgs = a.exchange(bind("a3"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            self.assertEqual(errors(msgs)[0]["C"], "26000", describe_messages(msgs))
            self.assertEqual(a.run("a1", [1]), [["1"]])
            self.assertEqual(b.run("b3"), [["3"]])
            # And the same pipeline without the error: answered in full.
            msgs = a.ok(parse("a3", "SELECT 3"), bind("a3"), execute(), SYNC)
            self.assertEqual(kinds(msgs), "12DCZ", describe_messages(msgs))

    def test_flush_without_sync(self):
        with Pooler(tx_settings(1, max_prepared_statements=1)) as pooler:
            a, b = self.clients(pooler, 2)
            b.prepare("b7", "SELECT 7")
            # The server holds "SELECT 7" already: the ParseComplete is the pooler's, and a Flush
            # must bring it before any Sync.
            a.raw.send(parse("a7", "SELECT 7") + FLUSH)
            msgs = a.read_n(1)
            self.assertEqual(kinds(msgs), "1", describe_messages(msgs))
            a.raw.send(bind("a7") + execute() + FLUSH)
            msgs = a.read_n(3)
            self.assertEqual(kinds(msgs), "2DC", describe_messages(msgs))
            self.assertEqual(rows(msgs), [["7"]])
            msgs = a.exchange(SYNC)
            self.assertEqual(kinds(msgs), "Z", describe_messages(msgs))
            # max_prepared_statements = 1: preparing f2 evicts the server's copy of a7's text,
            # so this Bind needs a Parse injected first; its answer stays hidden and the Flush
            # still brings the rest.
            a.prepare("f2", "SELECT 12")
            self.assertLessEqual(len(a.server_statements()), 1, a.server_statements())
            a.raw.send(bind("a7") + execute() + FLUSH)
            msgs = a.read_n(3)
            self.assertEqual(kinds(msgs), "2DC", describe_messages(msgs))
            self.assertEqual(rows(msgs), [["7"]])
            msgs = a.exchange(SYNC)
            self.assertEqual(kinds(msgs), "Z", describe_messages(msgs))
            self.assertLessEqual(len(a.server_statements()), 1, a.server_statements())
            self.assertEqual(b.run("b7"), [["7"]])

    def test_many_statements_in_one_write_four_clients_on_two_servers(self):
        count = 25

        def client(n):
            c = Client(pooler)
            try:
                # Each Parse/Bind/Execute/Sync is a transaction of its own: consecutive ones may
                # land on either server.
                batch = b"".join(parse(f"c{n}_{i}", f"SELECT $1::int + {i}") + bind(
                    f"c{n}_{i}", [n]) + execute() + SYNC for i in range(count))
                c.raw.send(batch)
                for i in range(count):
                    msgs = c.read_until_ready()
                    self.assertEqual(kinds(msgs), "12DCZ", describe_messages(msgs))
                    self.assertEqual(rows(msgs), [[str(n + i)]])
                for round_ in range(3):
                    batch = b"".join(bind(f"c{n}_{i}", [round_]) + execute() + SYNC
                                     for i in range(count))
                    c.raw.send(batch)
                    for i in range(count):
                        msgs = c.read_until_ready()
                        self.assertEqual(kinds(msgs), "2DCZ",
                                         f"c{n}_{i}: {describe_messages(msgs)}")
                        self.assertEqual(rows(msgs), [[str(round_ + i)]])
                # Many Parses and Binds before one Sync.
                batch = b"".join(parse(f"m{n}_{i}", f"SELECT {i} - $1::int") for i in range(5))
                batch += b"".join(bind(f"m{n}_{i}", [1]) + execute() for i in range(5))
                msgs = c.exchange(batch, SYNC)
                self.assertEqual(kinds(msgs), "11111" + "2DC" * 5 + "Z",
                                 describe_messages(msgs))
                self.assertEqual(rows(msgs), [[str(i - 1)] for i in range(5)])
            finally:
                c.close()

        with Pooler(tx_settings(2)) as pooler:
            failures = run_threads(4, client)
            self.assertEqual(failures, [], describe_failures(failures))


class Counters(Case):
    def test_one_server_statement_serves_twelve_clients(self):
        texts = ["SELECT $1::int + 100", "SELECT $1::text || '!'"]
        with Pooler(tx_settings(2)) as pooler:
            cs = self.clients(pooler, 12)

            def client(n):
                c = cs[n]
                c.prepare(f"mine_{n}", texts[0])
                c.prepare(f"other_{n}", texts[1])
                for i in range(2):
                    self.assertEqual(c.run(f"mine_{n}", [n + i]), [[str(n + i + 100)]])
                    self.assertEqual(c.run(f"other_{n}", [f"x{n}"]), [[f"x{n}!"]])

            failures = run_threads(12, client)
            self.assertEqual(failures, [], describe_failures(failures))
            with admin(pooler) as a:
                st = stats_row(a, db())
                clients = show_rows(a, "CLIENTS", db())
                servers = show_rows(a, "SERVERS", db())
            print(f"\n  SHOW STATS: client parses {st['total_client_parse_count']}, server "
                  f"parses {st['total_server_parse_count']}, binds {st['total_bind_count']}; "
                  f"{len(servers)} servers", flush=True)
            self.assertEqual(st["total_client_parse_count"], 12 * 2, st)
            self.assertEqual(st["total_bind_count"], 12 * 2 * 2, st)
            self.assertGreaterEqual(len(servers), 1)
            self.assertLessEqual(len(servers), 2, servers)
            self.assertGreaterEqual(st["total_server_parse_count"], len(texts), st)
            self.assertLessEqual(st["total_server_parse_count"], 2 * len(texts) + 2, st)
            self.assertEqual(len(clients), 12, clients)
            self.assertEqual([c["prepared_statements"] for c in clients], [2] * 12, clients)
            for s in servers:
                self.assertGreater(s["prepared_statements"], 0, servers)
                self.assertLessEqual(s["prepared_statements"], len(texts), servers)

    def test_prepare_once_execute_many_costs_one_server_parse(self):
        metrics_port = h.free_port()
        # alert_interval: how often the metrics sample is taken.
        with Pooler(dict(tx_settings(1), metrics_port=metrics_port, alert_interval=0.2)) as pooler:
            c, other = self.clients(pooler, 2)
            c.prepare("once", "SELECT $1::int * 7")
            for i in range(10):
                self.assertEqual(c.run("once", [i]), [[str(7 * i)]])
                other.query("SELECT 1")  # the server serves someone else in between
            with admin(pooler) as a:
                st = stats_row(a, db())
            self.assertEqual(st["total_client_parse_count"], 1, st)
            self.assertEqual(st["total_server_parse_count"], 1, st)
            self.assertEqual(st["total_bind_count"], 10, st)
            # The metrics endpoint counts the same (once its sample has been refreshed).
            def counts():
                _, text = h.http_get(metrics_port, "/metrics")
                found = {}
                for family in ("client_parses", "server_parses", "binds"):
                    m = re.search(rf'^pooler_pool_{family}_total{{[^}}]*database="{db()}"'
                                  r"[^}]*} (\S+)$", text, re.M)
                    found[family] = float(m.group(1)) if m else None
                return found

            want = {"client_parses": 1, "server_parses": 1, "binds": 10}
            h.wait_until(lambda: counts() == want, timeout=30,
                         message=f"the metrics to count {want}")


class Switches(Case):
    def test_max_prepared_statements_0_passes_statements_through(self):
        with Pooler(tx_settings(1, max_prepared_statements=0)) as pooler:
            a, b = self.clients(pooler, 2)
            a.prepare("_x", "SELECT 1")
            msgs = b.exchange(parse("_x", "SELECT 2"), SYNC)
            self.assertEqual(kinds(msgs), "EZ", describe_messages(msgs))
            e = errors(msgs)[0]
            self.assertEqual((e["C"], e["M"]), ("42P05", 'prepared statement "_x" already exists'))
            # The client's own name is the server's, and either client may use it.
            self.assertEqual(b.server_statements(), [("_x", "SELECT 1")])
            self.assertEqual(b.run("_x"), [["1"]])
            with admin(pooler) as adm:
                clients = show_rows(adm, "CLIENTS", db())
                servers = show_rows(adm, "SERVERS", db())
            self.assertEqual([c["prepared_statements"] for c in clients], [0, 0], clients)
            self.assertEqual([s["prepared_statements"] for s in servers], [0], servers)

    def test_session_mode_passes_statements_through(self):
        with Pooler(tx_settings(1, pool_mode="session")) as pooler:
            c, = self.clients(pooler, 1)
            c.prepare("sess_a", "SELECT 5")
            self.assertEqual(c.run("sess_a"), [["5"]])
            self.assertEqual(c.server_statements(), [("sess_a", "SELECT 5")])
            msgs = c.exchange(parse("sess_a", "SELECT 6"), SYNC)
            self.assertEqual([e["C"] for e in errors(msgs)], ["42P05"], describe_messages(msgs))
            msgs = c.ok(close(b"S", "sess_a"), SYNC)
            self.assertEqual(c.server_statements(), [])


if __name__ == "__main__":
    h.main()
