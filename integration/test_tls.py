#!/usr/bin/python3
"""TLS between clients and the pooler, with PgBouncer's client_tls_* keys: what each
client_tls_sslmode admits (libpq's sslmode against it, the unix socket exemption, client
certificates under verify-ca/verify-full), libpq's verify-full against the pooler's certificate,
protocol and cipher limits, direct TLS with ALPN, SCRAM channel binding, auth_type = cert,
GSSENCRequest, garbage and silence around the handshake, data pipelined after an SSLRequest,
SHOW CLIENTS' tls column, the TLS metrics, and a private key others can read.

Certificates are made by tls_kit at start (once for the file); the pooler talks to the main,
plain cluster. The load cases (pgbench, COPY, memory, cancel, reload) are in test_tls_load.py,
the pooler-to-PostgreSQL side in test_tls_server.py."""

import os
import shutil
import subprocess
import ssl
import time

import psycopg

import harness as h
import tls_kit
import tls_support as ts
from harness import Pooler, RawClient
from isolated_db import read_to_close, split_messages
from test_metrics import MetricsPooler
from tls_support import CERT_REFUSED, TLS_COLUMN, client_tls, libpq_tls, ssl_in_use


def connect(pooler, user="scramuser", **options):
    """psycopg through the pooler with libpq options (sslmode=..., host=...)."""
    return pooler.connect(user, **options)


def current_user(conn):
    return conn.execute("SELECT current_user").fetchone()[0]


class ClientModes(ts.TlsCase):
    def test_disable_refuses_tls_even_with_certificate_files_set(self):
        with Pooler(client_tls("disable")) as pooler:
            with self.assertRaisesRegex(psycopg.OperationalError, "server does not support SSL"):
                connect(pooler, sslmode="require").close()
            for sslmode in ("prefer", "disable"):
                with self.subTest(sslmode=sslmode), connect(pooler, sslmode=sslmode) as conn:
                    self.assertFalse(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")

    def test_prefer_and_allow_admit_tls_and_plain(self):
        for mode in ("prefer", "allow"):
            with self.subTest(client_tls_sslmode=mode), Pooler(client_tls(mode)) as pooler:
                with connect(pooler, sslmode="require") as conn:
                    self.assertTrue(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")
                with connect(pooler, sslmode="prefer") as conn:
                    self.assertTrue(ssl_in_use(conn), "libpq's prefer was not given TLS")
                with connect(pooler, sslmode="disable") as conn:
                    self.assertFalse(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")
                proc = pooler.psql("SELECT 1", sslmode="require")
                self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "1"), proc.stderr)

    def test_require_refuses_plain_tcp_with_28000_but_admits_the_unix_socket(self):
        with Pooler(client_tls("require")) as pooler:
            with RawClient(pooler.port) as client:
                with self.assertRaises(h.PgError) as caught:
                    client.login("scramuser", "itest", h.password("scramuser"))
            self.assertEqual(caught.exception.fields.get("S"), "FATAL")
            self.assertEqual(caught.exception.sqlstate, "28000")
            self.assertEqual(caught.exception.message, "SSL required")
            with self.assertRaisesRegex(psycopg.OperationalError, "SSL required"):
                connect(pooler, sslmode="disable").close()
            # PgBouncer exempts unix sockets: they never leave the host.
            with connect(pooler, host=pooler.dir, sslmode="disable") as conn:
                self.assertFalse(ssl_in_use(conn))
                self.assertEqual(current_user(conn), "scramuser")
            with connect(pooler, sslmode="require") as conn:
                self.assertTrue(ssl_in_use(conn))
                self.assertEqual(current_user(conn), "scramuser")

    def test_verify_modes_demand_a_client_certificate_signed_by_the_ca(self):
        k = ts.kit()
        for mode in ("verify-ca", "verify-full"):
            with self.subTest(client_tls_sslmode=mode), Pooler(client_tls(mode)) as pooler:
                with connect(pooler, **libpq_tls(cert=k.client("scramuser"))) as conn:
                    self.assertTrue(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")
                for label, cert in (("no certificate", None),
                                    ("a certificate from another CA", k.other_client())):
                    with self.subTest(client=label):
                        with self.assertRaises(psycopg.OperationalError) as caught:
                            connect(pooler, **libpq_tls(cert=cert)).close()
                        self.assertRegex(str(caught.exception), CERT_REFUSED)
                with self.assertRaisesRegex(psycopg.OperationalError, "SSL required"):
                    connect(pooler, sslmode="disable").close()
                with connect(pooler, **libpq_tls(cert=k.client("scramuser"))) as conn:
                    self.assertEqual(current_user(conn), "scramuser")


class PoolerCertificate(ts.TlsCase):
    def test_libpq_verify_full_accepts_the_poolers_certificate(self):
        k = ts.kit()
        with Pooler(client_tls("prefer")) as pooler:
            for host in ("localhost", "127.0.0.1"):  # the DNS and the IP subjectAltName
                with self.subTest(host=host), \
                        connect(pooler, host=host, hostaddr=h.HOST,
                                **libpq_tls("verify-full")) as conn:
                    self.assertTrue(ssl_in_use(conn))
            with self.assertRaisesRegex(psycopg.OperationalError, "certificate verify failed"):
                connect(pooler, host="localhost", hostaddr=h.HOST,
                        **libpq_tls("verify-full", sslrootcert=k.other_ca_cert)).close()
            self.assertEqual(tls_kit.fingerprint(tls_kit.presented_cert(h.HOST, pooler.port)),
                             tls_kit.fingerprint(k.server_cert))
        with Pooler(client_tls("prefer", cert="wrong_host")) as pooler:
            with self.assertRaisesRegex(psycopg.OperationalError, "does not match host name"):
                connect(pooler, host="localhost", hostaddr=h.HOST,
                        **libpq_tls("verify-full")).close()
            # The CA did sign it: only the name is wrong.
            with connect(pooler, host="localhost", hostaddr=h.HOST,
                         **libpq_tls("verify-ca")) as conn:
                self.assertTrue(ssl_in_use(conn))

    def test_a_key_others_can_read_stops_the_start_and_the_log_names_it(self):
        k = ts.kit()
        key = k.key_copy(k.server_key, 0o644)
        pooler = Pooler(client_tls("prefer", client_tls_key_file=key))
        try:
            pooler.__enter__()
        except AssertionError as e:
            self.assertIn("during start-up", str(e))
        else:
            pooler.__exit__(None, None, None)
            self.fail("the pooler started with a private key file others can read")
        self.addCleanup(shutil.rmtree, pooler.dir, ignore_errors=True)
        log = pooler.log()
        self.assertIn(key, log, "the refusal does not name the key file")
        self.assert_no_key_material(log, k.server_key)
        # --check tries the TLS files as a start does, so the same file fails the check.
        check = subprocess.run([h.pooler_bin(), "--check", pooler.ini], capture_output=True,
                               text=True, timeout=30)
        self.assertEqual(check.returncode, 1, check.stdout + check.stderr)
        self.assertIn(key, check.stdout)
        self.assertIn("group or world access", check.stdout)
        self.assert_no_key_material(check.stdout + check.stderr, k.server_key)
        # The same key with mode 0600 is fine: the refusal was about the mode.
        good = k.key_copy(k.server_key, 0o600)
        with Pooler(client_tls("prefer", client_tls_key_file=good)) as pooler:
            ts.assert_serves_tls(self, pooler)
            self.assert_no_key_material(pooler.log(), k.server_key)

    def assert_no_key_material(self, log, key_path):
        self.assertNotIn("PRIVATE KEY", log)
        with open(key_path) as f:
            body = [line for line in f.read().splitlines() if not line.startswith("-----")]
        for line in body:
            self.assertNotIn(line, log, "a line of the private key is in the log")


class ProtocolsAndCiphers(ts.TlsCase):
    def test_client_tls_protocols_refuses_the_other_version(self):
        cases = [("tlsv1.3", "TLSv1.2", "TLSv1.3"), ("tlsv1.2", "TLSv1.3", "TLSv1.2")]
        for protocols, refused, admitted in cases:
            with self.subTest(client_tls_protocols=protocols), \
                    Pooler(client_tls("prefer", client_tls_protocols=protocols)) as pooler:
                only = {"ssl_min_protocol_version": refused, "ssl_max_protocol_version": refused}
                with self.assertRaises(psycopg.OperationalError) as caught:
                    connect(pooler, **libpq_tls(**only)).close()
                self.assertRegex(str(caught.exception), r"(?i)protocol version|alert")
                only = {"ssl_min_protocol_version": admitted,
                        "ssl_max_protocol_version": admitted}
                with connect(pooler, **libpq_tls(**only)) as conn:
                    self.assertTrue(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")
                with tls_kit.starttls(h.HOST, pooler.port) as tls:
                    self.assertEqual(tls.version(), admitted)

    def test_a_list_of_protocols_admits_each(self):
        with Pooler(client_tls("prefer", client_tls_protocols="tlsv1.2,tlsv1.3")) as pooler:
            for version, bound in (("TLSv1.2", ssl.TLSVersion.TLSv1_2),
                                   ("TLSv1.3", ssl.TLSVersion.TLSv1_3)):
                ctx = tls_kit.client_context(minimum=bound, maximum=bound)
                with self.subTest(version=version), \
                        tls_kit.starttls(h.HOST, pooler.port, ctx) as tls:
                    self.assertEqual(tls.version(), version)

    def test_cipher_settings_decide_the_negotiated_cipher(self):
        cases = [({"client_tls13_ciphers": "TLS_CHACHA20_POLY1305_SHA256"},
                  "TLS_CHACHA20_POLY1305_SHA256"),
                 ({"client_tls_protocols": "tlsv1.2",
                   "client_tls_ciphers": "ECDHE-ECDSA-AES128-GCM-SHA256"},
                  "ECDHE-ECDSA-AES128-GCM-SHA256")]
        for settings, cipher in cases:
            with self.subTest(**settings), Pooler(client_tls("prefer", **settings)) as pooler:
                with tls_kit.starttls(h.HOST, pooler.port) as tls:
                    self.assertEqual(tls.cipher()[0], cipher)
                ts.assert_serves_tls(self, pooler)


class DirectTls(ts.TlsCase):
    def direct_login(self, pooler, alpn):
        """Tries a direct-TLS login with the given ALPN list; the error, or None if it logged
        in and ran a query."""
        try:
            ctx = tls_kit.client_context(alpn=alpn)
            with ts.tls_client(pooler.port, ctx=ctx, direct=True) as client:
                client.login("scramuser", "itest", h.password("scramuser"))
                client.query("SELECT 1")
        except (OSError, ssl.SSLError, ConnectionError, h.PgError, AssertionError) as e:
            return e
        return None

    def test_direct_tls_needs_the_postgresql_alpn(self):
        with Pooler(client_tls("prefer")) as pooler:
            with ts.tls_client(pooler.port, direct=True) as client:
                self.assertEqual(client.sock.selected_alpn_protocol(), "postgresql")
                client.login("scramuser", "itest", h.password("scramuser"))
                self.assertEqual(client.query("SELECT current_user"), [["scramuser"]])
            for alpn in (None, ["http/1.1"]):
                with self.subTest(alpn=alpn):
                    self.assertIsNotNone(self.direct_login(pooler, alpn),
                                         f"direct TLS with ALPN {alpn} logged in")
            ts.assert_serves_tls(self, pooler)
            with ts.tls_client(pooler.port, direct=True) as client:
                client.login("scramuser", "itest", h.password("scramuser"))
                self.assertEqual(client.query("SELECT 2"), [["2"]])


class ChannelBinding(ts.TlsCase):
    def test_scram_channel_binding_over_tls(self):
        with h.superuser_conn() as c:
            verifier = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scramuser'"
                                 ).fetchone()[0]
        for label, users in (("plain password", None),
                             ("SCRAM verifier", [("scramuser", verifier)])):
            settings = {"auth_type": "scram-sha-256", **client_tls("prefer")}
            with self.subTest(auth_file=label), Pooler(settings, users=users) as pooler:
                with connect(pooler, sslmode="require", channel_binding="require") as conn:
                    self.assertTrue(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), "scramuser")
                with ts.tls_login(pooler.port) as client:
                    self.assertIn("SCRAM-SHA-256-PLUS", client.sasl_mechanisms)
                with RawClient(pooler.port) as client:
                    client.login("scramuser", "itest", h.password("scramuser"))
                    self.assertNotIn("SCRAM-SHA-256-PLUS", client.sasl_mechanisms,
                                     "channel binding offered over plain TCP")
                with self.assertRaisesRegex(psycopg.OperationalError, r"(?i)channel binding"):
                    connect(pooler, sslmode="disable", channel_binding="require").close()


class CertAuth(ts.TlsCase):
    def test_cert_auth_logs_in_the_user_the_certificate_names(self):
        k = ts.kit()
        settings = {"auth_type": "cert", **client_tls("verify-full")}
        with Pooler(settings) as pooler:
            for user in ("scramuser", "md5user"):
                with self.subTest(user=user), \
                        connect(pooler, user, password="", **libpq_tls(cert=k.client(user))) \
                        as conn:
                    self.assertTrue(ssl_in_use(conn))
                    self.assertEqual(current_user(conn), user)
            with self.assertRaisesRegex(psycopg.OperationalError,
                                        "certificate authentication failed"):
                connect(pooler, "md5user", password="",
                        **libpq_tls(cert=k.client("scramuser"))).close()
            ctx = tls_kit.client_context()
            ctx.load_cert_chain(*k.client("scramuser"))
            with ts.tls_client(pooler.port, ctx=ctx) as client:
                with self.assertRaises(h.PgError) as caught:
                    client.login("md5user", "itest", "")
            self.assertEqual(caught.exception.sqlstate, "28000")
            self.assertEqual(caught.exception.message, "certificate authentication failed")
            with self.assertRaises(psycopg.OperationalError) as caught:
                connect(pooler, "scramuser", password="", **libpq_tls()).close()
            self.assertRegex(str(caught.exception), CERT_REFUSED)


class Negotiation(ts.TlsCase):
    def test_gssencrequest_is_answered_n_and_tls_or_plain_may_follow(self):
        with Pooler(client_tls("prefer")) as pooler:
            with pooler.raw_socket() as sock:
                sock.sendall(ts.GSSENC_REQUEST)
                self.assertEqual(h.recv_exact(sock, 1), b"N")
                client = RawClient(pooler.port, sock=sock)
                client.login("scramuser", "itest", h.password("scramuser"))
                self.assertEqual(client.query("SELECT 1"), [["1"]])
            # libpq's order with gssencmode=prefer: GSSENCRequest, 'N', then SSLRequest.
            sock = pooler.raw_socket()
            sock.sendall(ts.GSSENC_REQUEST)
            self.assertEqual(h.recv_exact(sock, 1), b"N")
            sock.sendall(tls_kit.SSL_REQUEST)
            self.assertEqual(h.recv_exact(sock, 1), b"S")
            tls = tls_kit.client_context().wrap_socket(sock, server_hostname="localhost")
            with RawClient(pooler.port, sock=tls) as client:
                client.login("scramuser", "itest", h.password("scramuser"))
                self.assertEqual(client.query("SELECT 2"), [["2"]])

    def after_s(self, pooler):
        sock = pooler.raw_socket(timeout=15)
        sock.sendall(tls_kit.SSL_REQUEST)
        self.assertEqual(h.recv_exact(sock, 1), b"S")
        return sock

    def test_garbage_or_a_cut_handshake_after_s_ends_only_that_connection(self):
        with Pooler(client_tls("prefer")) as pooler:
            with ts.tls_login(pooler.port) as bystander:
                with self.after_s(pooler) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(4096))
                    read_to_close(sock, timeout=15)
                with self.after_s(pooler) as sock:
                    hello = ts.client_hello()
                    sock.sendall(hello[:len(hello) // 2])
                # The bystander's session is untouched, and new clients get in.
                self.assertEqual(bystander.query("SELECT 7"), [["7"]])
            ts.assert_serves_tls(self, pooler)
            with connect(pooler, sslmode="disable") as conn:
                self.assertEqual(conn.execute("SELECT 8").fetchone(), (8,))

    def test_silence_after_s_or_after_the_handshake_ends_at_client_login_timeout(self):
        with Pooler(client_tls("prefer", client_login_timeout=2)) as pooler:
            for label in ("after 'S'", "after the handshake"):
                with self.subTest(silent=label):
                    sock = self.after_s(pooler)
                    if label == "after the handshake":
                        sock = tls_kit.client_context().wrap_socket(sock,
                                                                    server_hostname="localhost")
                    start = time.monotonic()
                    with sock:
                        try:
                            read_to_close(sock, timeout=15)
                        except ssl.SSLError:
                            pass  # the close came as a TLS alert
                    waited = time.monotonic() - start
                    self.assertGreaterEqual(waited, 1.5, "closed before client_login_timeout")
            ts.assert_serves_tls(self, pooler)

    def test_data_pipelined_after_an_sslrequest_is_refused(self):
        # PostgreSQL's fix for CVE-2021-23214: bytes that arrived with the SSLRequest were not
        # encrypted, and may come from someone in the middle. They must not be taken as the
        # startup packet.
        with Pooler(client_tls("prefer")) as pooler:
            with pooler.raw_socket(timeout=15) as sock:
                sock.sendall(tls_kit.SSL_REQUEST + h.startup_packet("scramuser", "itest"))
                data, _ = read_to_close(sock, timeout=15)
            rest = data[1:] if data[:1] in (b"S", b"N") else data
            kinds = [kind for kind, _ in split_messages(rest)]
            self.assertNotIn(b"R", kinds, f"the pipelined startup packet was served: {data!r}")
            self.assertNotIn(b"Z", kinds, f"the pipelined startup packet was served: {data!r}")
            ts.assert_serves_tls(self, pooler)


class ShowClients(ts.TlsCase):
    def clients_by_app(self, pooler):
        with connect(pooler, dbname="pgbouncer", sslmode="disable") as admin:
            return {r["application_name"]: r for r in h.show(admin, "CLIENTS")[1]}

    def test_show_clients_tls_column(self):
        settings = {**client_tls("prefer"), "admin_users": "scramuser"}
        with Pooler(settings) as pooler:
            with connect(pooler, sslmode="require", application_name="tls_client") as tls_conn, \
                    connect(pooler, sslmode="disable", application_name="plain_client") as plain:
                tls_conn.execute("SELECT 1")
                plain.execute("SELECT 1")
                rows = self.clients_by_app(pooler)
            self.assertRegex(rows["tls_client"]["tls"], TLS_COLUMN)
            self.assertTrue(rows["tls_client"]["tls"].startswith("TLSv1.3/"),
                            rows["tls_client"]["tls"])
            self.assertEqual(rows["plain_client"]["tls"], "")

    def test_ecdh_curve_shows_in_the_tls_column(self):
        settings = {**client_tls("prefer", client_tls_protocols="tlsv1.2",
                                 client_tls_ecdhcurve="secp384r1"), "admin_users": "scramuser"}
        with Pooler(settings) as pooler:
            with connect(pooler, sslmode="require", application_name="tls12_client") as conn:
                conn.execute("SELECT 1")
                tls = self.clients_by_app(pooler)["tls12_client"]["tls"]
            self.assertRegex(tls, TLS_COLUMN)
            self.assertTrue(tls.startswith("TLSv1.2/ECDHE-ECDSA-"), tls)
            self.assertRegex(tls, r"(?i)/ECDH=(secp384r1|P-384)$")


class Metrics(ts.TlsCase):
    def test_handshake_counters_gauge_and_histogram(self):
        with MetricsPooler(client_tls("prefer")) as pooler:
            def sample(name, **labels):
                return pooler.metrics().get(name, **labels) or 0

            def handshakes(result):
                return sample("pooler_tls_handshakes_total", side="client", result=result)

            ok, failed = handshakes("ok"), handshakes("failed")
            with connect(pooler, sslmode="require") as conn:
                conn.execute("SELECT 1")
                h.wait_until(lambda: handshakes("ok") == ok + 1, timeout=10,
                             message="pooler_tls_handshakes_total{result=ok} to count the login")
                h.wait_until(lambda: sample("pooler_tls_connections", side="client") == 1,
                             timeout=10, message="pooler_tls_connections{side=client} 1")
                with connect(pooler, sslmode="disable") as plain:
                    plain.execute("SELECT 1")
                    self.assertEqual(sample("pooler_tls_connections", side="client"), 1,
                                     "a plain client counted as a TLS connection")
            h.wait_until(lambda: sample("pooler_tls_connections", side="client") == 0,
                         timeout=10, message="pooler_tls_connections{side=client} back to 0")
            with pooler.raw_socket(timeout=15) as sock:
                sock.sendall(tls_kit.SSL_REQUEST)
                self.assertEqual(h.recv_exact(sock, 1), b"S")
                sock.sendall(b"\x16\x03\x01\x00\x05garbage" + os.urandom(64))
                read_to_close(sock, timeout=15)
            h.wait_until(lambda: handshakes("failed") == failed + 1, timeout=10,
                         message="pooler_tls_handshakes_total{result=failed} to count it")
            self.assertEqual(handshakes("ok"), ok + 1)
            m = pooler.metrics()
            counts = [v for labels, v in m.find("pooler_tls_handshake_seconds_count")
                      if labels.get("side", "client") == "client"]
            self.assertTrue(counts, "no pooler_tls_handshake_seconds histogram for clients")
            self.assertGreaterEqual(sum(counts), 1)
            self.assertTrue(m.find("pooler_tls_handshake_seconds_bucket", le="+Inf"))
            self.assertTrue(m.find("pooler_tls_handshake_seconds_sum"))


if __name__ == "__main__":
    h.main()
