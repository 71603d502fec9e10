#!/usr/bin/python3
"""TLS between the pooler and PostgreSQL, with PgBouncer's server_tls_* keys: each
server_tls_sslmode against the plain main cluster (the modes that need TLS fail the login with a
clear error, promptly) and against a cluster of this file's own with ssl = on (plain or TLS as
the mode says, seen in pg_stat_ssl and SHOW SERVERS; verify-ca / verify-full against the CA, the
host name, an expired certificate and an unknown CA), protocols and ciphers, SCRAM over TLS
with a password and with SCRAM pass-through, and a client certificate for PostgreSQL's cert
authentication.

The ssl = on cluster is started once for the file (setUpModule) and removed after it. A case that
changes it (its certificate through ALTER SYSTEM, its pg_hba.conf) puts it back itself."""

import socket
import sys
import time

import psycopg

import harness as h
import tls_support as ts
from harness import Pooler, RawClient
from tls_support import TLS_COLUMN

CLUSTER = None

BASE = {"admin_users": "scramuser", "server_connect_timeout": 3, "query_wait_timeout": 30,
        "server_login_retry": 1}
BOUND = 20  # s: a refused server login must reach the client well within this
NO_SSL = (r"(?i)(does not|doesn't|did not) support SSL|refused SSL|"
          r"SSL (is )?not (supported|available)")
NOT_TRUSTED = r"(?i)certificate verify failed|unable to get local issuer|unknown ca|self.signed"
WRONG_HOST = r"(?i)host ?name|does not match|mismatch|not present in (the )?(server )?certificate"
EXPIRED = r"(?i)expired"
SSL_ROW = "SELECT ssl, version, cipher, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def setUpModule():  # noqa: N802 - unittest's name
    global CLUSTER
    CLUSTER = ts.TlsCluster()


def tearDownModule():  # noqa: N802 - unittest's name
    if CLUSTER is not None:
        CLUSTER.stop()


def server_settings(mode, **settings):
    """BASE plus server_tls_sslmode (None: left at its default), with the kit's CA for the
    verify modes unless settings name one."""
    out = {**BASE}
    if mode is not None:
        out["server_tls_sslmode"] = mode
    if mode in ("verify-ca", "verify-full"):
        out["server_tls_ca_file"] = ts.kit().ca_cert
    out.update(settings)
    return out


def tls_pooler(mode, host="localhost", **settings):
    """A pooler whose itest is the ssl = on cluster, reached as `host`."""
    return Pooler(server_settings(mode, **settings), databases=CLUSTER.databases(host))


class Case(ts.TlsCase):
    def server_link(self, pooler, user="scramuser", password=None):
        """What a client's server link looks like: ({ssl, version, cipher, client_dn} from
        pg_stat_ssl, its SHOW SERVERS row)."""
        with pooler.connect(user, password=password) as conn:
            ssl, version, cipher, client_dn = conn.execute(SSL_ROW).fetchone()
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
            self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], user)
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                rows = [r for r in h.show(admin, "SERVERS")[1] if r["remote_pid"] == pid]
        self.assertEqual(len(rows), 1, f"SHOW SERVERS has no single row for backend {pid}")
        return {"ssl": ssl, "version": version, "cipher": cipher, "client_dn": client_dn}, rows[0]

    def assert_plain(self, pooler):
        link, server = self.server_link(pooler)
        self.assertFalse(link["ssl"], "the server link uses TLS")
        self.assertEqual(server["tls"], "")

    def assert_tls(self, pooler, **link_facts):
        link, server = self.server_link(pooler)
        self.assertTrue(link["ssl"], "the server link is plain")
        self.assertRegex(server["tls"], TLS_COLUMN)
        self.assertTrue(server["tls"].startswith(f"{link['version']}/{link['cipher']}"),
                        f"SHOW SERVERS tls {server['tls']!r} against pg_stat_ssl {link}")
        for key, value in link_facts.items():
            self.assertEqual(link[key], value, key)
        return link

    def assert_login_fails(self, pooler, cause):
        """A client's login fails with an ErrorResponse within BOUND s; `cause` (a regex)
        matches the client's message or the pooler's log. Returns the message."""
        start = time.monotonic()
        try:
            with RawClient(pooler.port, timeout=BOUND) as client:
                client.login("scramuser", "itest", h.password("scramuser"))
        except h.PgError as e:
            message = e.message
        except socket.timeout:
            self.fail(f"no answer to the login within {BOUND} s: the failure hangs the client")
        else:
            self.fail("the login succeeded")
        elapsed = time.monotonic() - start
        self.assertLess(elapsed, BOUND)
        found = h.wait_until(lambda: ts.first_match(cause, message, pooler.log()) or None,
                             timeout=5, message=f"{cause!r} in the error ({message!r}) or log")
        print(f"\n  refused after {elapsed:.1f} s: {message!r}; cause seen as {found.group(0)!r}",
              file=sys.stderr)
        self.assertTrue(pooler.alive())
        return message


class AgainstPlainServer(Case):
    def test_modes_that_do_not_need_tls_connect_in_plain_text(self):
        for mode in (None, "disable", "allow", "prefer"):
            with self.subTest(server_tls_sslmode=mode or "default"), \
                    Pooler(server_settings(mode)) as pooler:
                self.assert_plain(pooler)

    def test_modes_that_need_tls_fail_the_login_promptly_and_clearly(self):
        for mode in ("require", "verify-ca", "verify-full"):
            with self.subTest(server_tls_sslmode=mode), \
                    Pooler(server_settings(mode)) as pooler:
                message = self.assert_login_fails(pooler, NO_SSL)
                self.assertRegex(message, NO_SSL)


class AgainstTlsServer(Case):
    def test_disable_connects_in_plain_text(self):
        with tls_pooler("disable") as pooler:
            self.assert_plain(pooler)

    def test_the_default_prefer_and_require_use_tls(self):
        for mode in (None, "prefer", "require"):
            with self.subTest(server_tls_sslmode=mode or "default"), tls_pooler(mode) as pooler:
                self.assert_tls(pooler)

    def test_allow_asks_for_tls_as_pgbouncer_does(self):
        with tls_pooler("allow") as pooler:
            self.assert_tls(pooler)

    def test_a_changed_server_tls_setting_retires_plain_servers_at_release(self):
        with tls_pooler("disable") as pooler:
            _, before = self.server_link(pooler)
            self.assertEqual(before["tls"], "")
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                admin.execute("SET server_tls_sslmode = 'require'")
            link, after = self.server_link(pooler)
            self.assertTrue(link["ssl"], "the server link stayed plain after SET")
            self.assertRegex(after["tls"], TLS_COLUMN)
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                pids = [r["remote_pid"] for r in h.show(admin, "SERVERS")[1]]
            self.assertNotIn(before["remote_pid"], pids, "the plain server was kept")

    def test_verify_ca_trusts_only_server_tls_ca_file(self):
        with tls_pooler("verify-ca") as pooler:
            self.assert_tls(pooler)
        with tls_pooler("verify-ca", server_tls_ca_file=ts.kit().other_ca_cert) as pooler:
            self.assert_login_fails(pooler, NOT_TRUSTED)

    def test_verify_full_matches_the_dns_name_and_the_ip_address(self):
        for host in ("localhost", "127.0.0.1"):
            with self.subTest(host=host), tls_pooler("verify-full", host=host) as pooler:
                self.assert_tls(pooler)

    def test_verify_full_refuses_a_certificate_for_another_host(self):
        with CLUSTER.server_cert("wrong_host"):
            with tls_pooler("verify-full") as pooler:
                self.assert_login_fails(pooler, WRONG_HOST)
            with tls_pooler("verify-ca") as pooler:  # the CA did sign it: only the name is wrong
                self.assert_tls(pooler)

    def test_verify_ca_refuses_an_expired_certificate(self):
        with CLUSTER.server_cert("expired"):
            for mode in ("verify-ca", "verify-full"):
                with self.subTest(server_tls_sslmode=mode), tls_pooler(mode) as pooler:
                    self.assert_login_fails(pooler, EXPIRED)
            with tls_pooler("require") as pooler:  # require does not check it
                self.assert_tls(pooler)

    def test_verify_ca_refuses_a_certificate_from_an_unknown_ca(self):
        with CLUSTER.server_cert("unknown_ca"):
            for mode in ("verify-ca", "verify-full"):
                with self.subTest(server_tls_sslmode=mode), tls_pooler(mode) as pooler:
                    self.assert_login_fails(pooler, NOT_TRUSTED)
            with tls_pooler("require") as pooler:
                self.assert_tls(pooler)

    def test_protocols_and_ciphers(self):
        cases = [({"server_tls_protocols": "tlsv1.2"}, {"version": "TLSv1.2"}),
                 ({"server_tls_protocols": "tlsv1.3"}, {"version": "TLSv1.3"}),
                 ({"server_tls13_ciphers": "TLS_CHACHA20_POLY1305_SHA256"},
                  {"version": "TLSv1.3", "cipher": "TLS_CHACHA20_POLY1305_SHA256"}),
                 ({"server_tls_protocols": "tlsv1.2",
                   "server_tls_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256"},
                  {"version": "TLSv1.2", "cipher": "ECDHE-ECDSA-AES128-GCM-SHA256"})]
        for settings, facts in cases:
            with self.subTest(**settings), tls_pooler("require", **settings) as pooler:
                self.assert_tls(pooler, **facts)


class ServerAuth(Case):
    def test_scram_over_tls_with_a_password_and_with_pass_through(self):
        # scramuser's password is stored as SCRAM on the TLS cluster and pg_hba.conf says md5
        # for it, so PostgreSQL asks for SCRAM (offering SCRAM-SHA-256-PLUS over TLS).
        line = CLUSTER.db_line(user="scramuser", password=h.password("scramuser"))
        with Pooler(server_settings("require", auth_type="scram-sha-256"),
                    databases={"itest": line}) as pooler:
            link = self.assert_tls(pooler)
            self.assertIsNone(link["client_dn"])
        with CLUSTER.superuser_conn() as c:
            verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'"
                                 ).fetchone()[0]
        self.assertTrue(verifier.startswith("SCRAM-SHA-256$"))
        with Pooler(server_settings("require", auth_type="scram-sha-256"),
                    databases=CLUSTER.databases(), users=[("scramuser", verifier)]) as pooler:
            self.assert_tls(pooler)
            with self.assertRaises(psycopg.OperationalError):
                pooler.connect("scramuser", password="not-the-password").close()

    def test_a_client_certificate_for_postgresqls_cert_authentication(self):
        k = ts.kit()
        crt, key = k.client("scramuser")
        with CLUSTER.hba_first("hostssl itest scramuser 127.0.0.1/32 cert"):
            # The rule is in force: PostgreSQL wants a certificate, a password will not do.
            with self.assertRaisesRegex(psycopg.OperationalError, "certificate"):
                CLUSTER.direct("scramuser").close()
            with Pooler(server_settings("require", server_tls_cert_file=crt,
                                        server_tls_key_file=key),
                        databases=CLUSTER.databases()) as pooler:
                link = self.assert_tls(pooler)
                self.assertEqual(link["client_dn"], "/CN=scramuser")
            with Pooler(server_settings("require"), databases=CLUSTER.databases()) as pooler:
                self.assert_login_fails(pooler, r"(?i)certificate")
        # Put back: the password works again.
        with CLUSTER.direct("scramuser") as conn:
            self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "scramuser")


if __name__ == "__main__":
    h.main()
