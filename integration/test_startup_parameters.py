#!/usr/bin/python3
"""Startup parameters and identities: what a client's startup packet asks for (`options` with
-c and --name=value, search_path, statement_timeout, custom a.b settings) holds on whichever
server serves it, in session and transaction mode, and the next client on that server does not
inherit it; bad values are refused with PostgreSQL's own SQLSTATE and words; the client sees the
server's spelling of what it asked for (client_encoding=utf-8 shows as UTF8); a SET of a reported
parameter follows the client to its next server; in session mode the client is told its
server's real pid, so pg_backend_pid(), pg_terminate_backend's FATAL and notification pids agree
with the driver, and cancels still work through the pooler."""

import threading
import time
import unittest

import psycopg
from psycopg import errors

import harness as h
from harness import Pooler, RawClient

REAL_PID_LIMIT = 1 << 22  # Linux's largest pid_max: made-up pids start here


def settings(mode, pool_size=1, **more):
    s = {"pool_mode": mode, "default_pool_size": pool_size, "max_client_conn": 50,
         "query_wait_timeout": 30}
    s.update(more)
    return s


def connect(pooler, **params):
    return psycopg.connect(pooler.dsn(**params), autocommit=True)


def one(conn, sql):
    return conn.execute(sql).fetchone()[0]


def raw_login(pooler, **params):
    raw = RawClient(pooler.port)
    raw.login("trustuser", h.state()["database"], h.password("trustuser"), **params)
    return raw


class StartupSettings(unittest.TestCase):
    """Settings from the startup packet hold for their client and end with it."""

    def check_mode(self, mode):
        with Pooler(settings(mode)) as pooler:
            options = r"-c search_path=app,\ public -c statement_timeout=1234 --app.tenant=42"
            with connect(pooler, options=options) as conn:
                pid = one(conn, "SELECT pg_backend_pid()")
                self.assertEqual(one(conn, "SHOW search_path"), "app, public")
                self.assertEqual(one(conn, "SHOW statement_timeout"), "1234ms")
                self.assertEqual(one(conn, "SELECT current_setting('app.tenant')"), "42")
                # Several transactions: each finds them again (transaction mode re-checks).
                for _ in range(3):
                    with conn.transaction():
                        self.assertEqual(one(conn, "SHOW statement_timeout"), "1234ms")
            # Pool of one: the next client gets that very server, with nothing left over.
            with connect(pooler) as conn:
                self.assertEqual(one(conn, "SELECT pg_backend_pid()"), pid)
                self.assertEqual(one(conn, "SHOW search_path"), '"$user", public')
                self.assertEqual(one(conn, "SHOW statement_timeout"), "0")
                self.assertIn(one(conn, "SELECT current_setting('app.tenant', true)"), ("", None))

    def test_transaction_mode(self):
        self.check_mode("transaction")

    def test_session_mode(self):
        self.check_mode("session")

    def test_statement_timeout_from_options_is_enforced(self):
        with Pooler(settings("transaction")) as pooler:
            with connect(pooler, options="-c statement_timeout=200") as conn:
                with self.assertRaises(errors.QueryCanceled) as caught:
                    conn.execute("SELECT pg_sleep(3)")
                self.assertIn("statement timeout", str(caught.exception))

    def test_plain_startup_parameters_are_settings_too(self):
        with Pooler(settings("transaction")) as pooler:
            with raw_login(pooler, search_path="pg_catalog", lock_timeout="3s") as raw:
                self.assertEqual(raw.query("SHOW search_path"), [["pg_catalog"]])
                self.assertEqual(raw.query("SHOW lock_timeout"), [["3s"]])
            with raw_login(pooler) as raw:
                self.assertEqual(raw.query("SHOW lock_timeout"), [["0"]])

    def test_two_clients_with_different_settings_share_one_server(self):
        with Pooler(settings("transaction")) as pooler:
            with connect(pooler, options="-c search_path=a") as a, \
                    connect(pooler, options="-c search_path=b") as b:
                for _ in range(5):
                    self.assertEqual(one(a, "SHOW search_path"), "a")
                    self.assertEqual(one(b, "SHOW search_path"), "b")
                self.assertEqual(one(a, "SELECT pg_backend_pid()"),
                                 one(b, "SELECT pg_backend_pid()"))

    def test_ignore_startup_parameters_drops_options(self):
        with Pooler(settings("transaction", ignore_startup_parameters="options")) as pooler:
            with connect(pooler, options="-c search_path=app") as conn:
                self.assertEqual(one(conn, "SHOW search_path"), '"$user", public')


class BadSettings(unittest.TestCase):
    """What PostgreSQL would refuse at login, the pooler refuses at login, in PostgreSQL's words."""

    def refused(self, pooler, options):
        with self.assertRaises(psycopg.OperationalError) as caught:
            connect(pooler, options=options).close()
        return str(caught.exception)

    def test_bad_values_and_names(self):
        for mode in ("transaction", "session"):
            with self.subTest(mode=mode), Pooler(settings(mode)) as pooler:
                message = self.refused(pooler, "-c statement_timeout=soon")
                self.assertIn('invalid value for parameter "statement_timeout": "soon"', message)
                message = self.refused(pooler, "-c no_such_setting=1")
                self.assertIn('unrecognized configuration parameter "no_such_setting"', message)
                self.assertIn("requires a value", self.refused(pooler, "-c search_path"))
                # The pool is fine afterwards.
                with connect(pooler) as conn:
                    self.assertEqual(one(conn, "SELECT 1"), 1)

    def test_sqlstates(self):
        with Pooler(settings("transaction")) as pooler:
            for options, sqlstate in (("-c statement_timeout=soon", "22023"),
                                      ("-c no_such_setting=1", "42704"),
                                      ("-c search_path", "42601"),
                                      ("-B 10", "42601")):
                with self.subTest(options=options), self.assertRaises(h.PgError) as caught:
                    raw_login(pooler, options=options).close()
                self.assertEqual(caught.exception.sqlstate, sqlstate)


class ReportedParameters(unittest.TestCase):
    def test_client_encoding_is_shown_as_the_server_spells_it(self):
        for mode in ("transaction", "session"):
            with self.subTest(mode=mode), Pooler(settings(mode)) as pooler:
                # The first login goes through a server; the second may use the cached welcome.
                for _ in range(2):
                    with raw_login(pooler, client_encoding="utf-8") as raw:
                        self.assertEqual(raw.parameters["client_encoding"], "UTF8")
                        self.assertEqual(raw.query("SHOW client_encoding"), [["UTF8"]])
                with raw_login(pooler, DateStyle="german") as raw:
                    self.assertEqual(raw.parameters["DateStyle"], "German, DMY")

    def test_a_set_of_a_reported_parameter_follows_the_client_to_another_server(self):
        with Pooler(settings("transaction", pool_size=2)) as pooler:
            with connect(pooler) as a, connect(pooler) as b, connect(pooler) as c:
                a.execute("SET IntervalStyle = 'iso_8601'")
                a.execute("SET default_transaction_read_only = on")
                first = one(a, "SELECT pg_backend_pid()")
                # b holds a's server in a transaction, so a's next statement runs on the other.
                for _ in range(20):
                    b.execute("BEGIN")
                    if one(b, "SELECT pg_backend_pid()") == first:
                        break
                    b.execute("COMMIT")
                else:
                    self.fail("b never got the server a had used")
                style, read_only, pid = a.execute(
                    "SELECT current_setting('IntervalStyle'), "
                    "current_setting('default_transaction_read_only'), pg_backend_pid()").fetchone()
                self.assertNotEqual(pid, first)
                self.assertEqual((style, read_only), ("iso_8601", "on"))
                b.execute("COMMIT")
                # c never asked: it sees the defaults on whichever server it gets.
                for _ in range(4):
                    self.assertEqual(one(c, "SHOW IntervalStyle"), "postgres")
                    self.assertEqual(one(c, "SHOW default_transaction_read_only"), "off")


class SessionIdentity(unittest.TestCase):
    """Session mode: the pid the driver is told is the server's own."""

    def test_backend_pid_is_the_servers(self):
        with Pooler(settings("session", pool_size=2)) as pooler:
            with connect(pooler) as conn:
                self.assertEqual(conn.info.backend_pid, one(conn, "SELECT pg_backend_pid()"))
            with raw_login(pooler) as raw:
                self.assertEqual(int(raw.query("SELECT pg_backend_pid()")[0][0]),
                                 raw.backend_key[0])

    def test_transaction_mode_pids_are_made_up_above_real_ones(self):
        with Pooler(settings("transaction")) as pooler:
            for _ in range(5):
                with raw_login(pooler) as raw:
                    self.assertGreaterEqual(raw.backend_key[0], REAL_PID_LIMIT)

    def test_terminate_backend_delivers_postgresqls_fatal(self):
        with Pooler(settings("session", pool_size=2)) as pooler:
            conn = connect(pooler)
            pid = conn.info.backend_pid
            with h.superuser_conn() as admin:
                self.assertTrue(one(admin, f"SELECT pg_terminate_backend({pid})"))
            with self.assertRaises(psycopg.OperationalError) as caught:
                conn.execute("SELECT 1")
            self.assertIn("terminating connection due to administrator command",
                          str(caught.exception))
            conn.close()
            # Through psql, the same words and nothing of the pooler's own.
            with connect(pooler) as victim:
                vpid = victim.info.backend_pid
                with connect(pooler) as killer:
                    killer.execute(f"SELECT pg_terminate_backend({vpid})")
                with self.assertRaises(psycopg.OperationalError) as caught:
                    victim.execute("SELECT 1")
                self.assertNotIn("server conn crashed", str(caught.exception))

    def test_notification_pids_match_the_drivers(self):
        with Pooler(settings("session", pool_size=2)) as pooler:
            with connect(pooler) as listener, connect(pooler) as sender:
                got = {}
                listener.add_notify_handler(lambda n: got.__setitem__(n.payload, n.pid))
                listener.execute("LISTEN pooler_itest")
                listener.execute("NOTIFY pooler_itest, 'self'")
                sender.execute("NOTIFY pooler_itest, 'other'")
                h.wait_until(lambda: listener.execute("SELECT 1") and len(got) == 2,
                             message="both notifications")
                self.assertEqual(got, {"self": listener.info.backend_pid,
                                       "other": sender.info.backend_pid})

    def test_cancel_with_the_real_pid_and_a_forged_key(self):
        with Pooler(settings("session", pool_size=2)) as pooler:
            with connect(pooler) as conn:
                pid = conn.info.backend_pid
                # A forged key with the right pid: nothing happens to the query.
                forged = threading.Timer(0.5, h.send_cancel, (pooler.port, pid, 12345))
                forged.start()
                self.assertEqual(one(conn, "SELECT 1 FROM pg_sleep(1.5)"), 1)
                forged.join()
                # The driver's own cancel stops it.
                timer = threading.Timer(0.5, conn.cancel)
                timer.start()
                started = time.monotonic()
                with self.assertRaises(errors.QueryCanceled):
                    conn.execute("SELECT pg_sleep(20)")
                timer.join()
                self.assertLess(time.monotonic() - started, 10)
                self.assertEqual(one(conn, "SELECT 1"), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
