"""What the TLS case files share: [pooler] settings for client-side TLS, libpq options for a TLS
login, raw clients over TLS (after an SSLRequest, or direct TLS with ALPN), a case base with an
alarm, and the extra ssl = on cluster the server-side cases run against.

The certificates come from tls_kit (made once per process); nothing here is committed key
material."""

import contextlib
import os
import re
import socket
import ssl
import struct
import unittest

import psycopg

import harness as h
import pg_cluster
import tls_kit

# PgBouncer's SHOW CLIENTS / SHOW SERVERS `tls` column: protocol/cipher[/key exchange].
TLS_COLUMN = r"^TLSv1\.[23]/[A-Z0-9_-]+(/ECDH=[A-Za-z0-9_-]+|/DH=\d+)?$"
# libpq's words when a TLS handshake is refused over the client's certificate.
CERT_REFUSED = r"(?i)certificate|alert"
GSSENC_REQUEST = struct.pack("!ii", 8, h.GSSENC_REQUEST_CODE)


def kit():
    return tls_kit.kit()


def client_tls(mode="prefer", cert="server", **extra):
    """[pooler] settings for client-side TLS in `mode`, presenting kit's `cert` pair; the verify
    modes also trust the kit's CA for client certificates. extra: more keys, as they are."""
    k = kit()
    settings = {"client_tls_sslmode": mode}
    if cert:
        crt, key = k.pair(cert)
        settings.update(client_tls_cert_file=crt, client_tls_key_file=key)
    if mode in ("verify-ca", "verify-full"):
        settings["client_tls_ca_file"] = k.ca_cert
    settings.update(extra)
    return settings


def libpq_tls(sslmode="require", cert=None, **extra):
    """libpq connection options for a TLS login. cert: a (crt, key) pair to present; without one
    the client presents none (sslcert names a file that does not exist, so a stray
    ~/.postgresql/postgresql.crt cannot slip in). The verify modes trust the kit's CA."""
    k = kit()
    options = {"sslmode": sslmode}
    crt, key = cert or (k.path("no-such-client.crt"), k.path("no-such-client.key"))
    options.update(sslcert=crt, sslkey=key)
    if sslmode in ("verify-ca", "verify-full"):
        options["sslrootcert"] = k.ca_cert
    options.update(extra)
    return options


def ssl_in_use(conn):
    return bool(conn.pgconn.ssl_in_use)


def tls_client(port, ctx=None, direct=False, timeout=10, server_hostname="localhost"):
    """A RawClient whose socket speaks TLS: after SSLRequest and 'S', or (direct) TLS from the
    first byte with ALPN "postgresql" unless ctx says otherwise."""
    if direct:
        sock = socket.create_connection((h.HOST, port), timeout=timeout)
        try:
            tls = (ctx or tls_kit.client_context(alpn=["postgresql"])).wrap_socket(
                sock, server_hostname=server_hostname)
        except BaseException:
            sock.close()
            raise
    else:
        tls = tls_kit.starttls(h.HOST, port, ctx, timeout, server_hostname)
    return h.RawClient(port, sock=tls)


def tls_login(port, user="scramuser", dbname="itest", ctx=None, direct=False):
    """A TLS RawClient logged in with the user's password; the caller closes it."""
    client = tls_client(port, ctx=ctx, direct=direct)
    try:
        client.login(user, dbname, h.password(user))
    except BaseException:
        client.close()
        raise
    return client


def client_hello(ctx=None):
    """The bytes of a TLS ClientHello, made with a memory BIO (no socket)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = (ctx or tls_kit.client_context()).wrap_bio(incoming, outgoing,
                                                     server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def assert_serves_tls(test, pooler, user="scramuser", dbname="itest"):
    """A new TLS login through the pooler still works and the process is alive."""
    with tls_login(pooler.port, user, dbname) as client:
        test.assertEqual(client.query("SELECT 40 + 2"), [["42"]])
    test.assertTrue(pooler.alive(), "pooler is not running")


def log_lines_after(pooler, before):
    """The pooler log's lines past the first `before` characters."""
    return pooler.log()[before:].splitlines()


class TlsCase(unittest.TestCase):
    """A case with an alarm: a hung client call fails the case instead of eating the file's
    time. Subclasses may set case_limit (s)."""

    case_limit = 120

    def setUp(self):
        h.arm_case_alarm(self, self.case_limit)


# --- the ssl = on cluster ---

class TlsCluster:
    """An extra PostgreSQL cluster with ssl = on, presenting server.crt, trusting ca.crt for
    client certificates, with the main cluster's roles, database and pg_hba.conf. Every server
    pair of the kit is installed beside it so use_server_cert() can switch among them."""

    SERVER_PAIRS = ("server", "wrong_host", "expired", "unknown_ca")

    def __init__(self):
        k = kit()
        files = [k.ca_cert] + [path for stem in self.SERVER_PAIRS for path in k.pair(stem)]
        self.cluster = pg_cluster.ExtraCluster(ssl_files=files)
        self.state = self.cluster.state
        self.port = self.state["port"]
        self.ssl_dir = self.state["ssl_dir"]
        self.hba_path = os.path.join(self.state["data_dir"], "pg_hba.conf")

    def stop(self):
        self.cluster.stop()

    def superuser_conn(self, dbname="itest"):
        return psycopg.connect(host=self.state["socket_dir"], port=self.port,
                               user=self.state["superuser"], dbname=dbname, autocommit=True,
                               connect_timeout=10)

    def db_line(self, host="localhost", dbname="itest", **options):
        """A [databases] line for this cluster."""
        line = f"host={host} port={self.port} dbname={dbname}"
        return line + "".join(f" {k}={v}" for k, v in options.items())

    def databases(self, host="localhost", **options):
        return {"itest": self.db_line(host, **options)}

    def direct(self, user="scramuser", **options):
        """psycopg straight to this cluster over TCP (options: libpq's)."""
        params = {"host": "localhost", "hostaddr": h.HOST, "port": self.port, "user": user,
                  "password": self.state["users"][user], "dbname": "itest", "connect_timeout": 10,
                  "sslmode": "require", **options}
        return psycopg.connect(autocommit=True, **params)

    def _reload_and_wait(self, conn):
        before = conn.execute("SELECT pg_conf_load_time()").fetchone()[0]
        conn.execute("SELECT pg_reload_conf()")

        def reloaded():  # a new backend inherits the postmaster's load time
            with self.superuser_conn() as c:
                return c.execute("SELECT pg_conf_load_time()").fetchone()[0] > before
        h.wait_until(reloaded, timeout=15, message="PostgreSQL to reload its configuration")

    def use_server_cert(self, stem):
        """Switches the cluster to the kit's `stem` pair (ALTER SYSTEM, reload) and waits until a
        new connection is shown it."""
        cert = os.path.join(self.ssl_dir, stem + ".crt")
        key = os.path.join(self.ssl_dir, stem + ".key")
        with self.superuser_conn() as c:
            c.execute(f"ALTER SYSTEM SET ssl_cert_file = {pg_cluster.sql_literal(cert)}")
            c.execute(f"ALTER SYSTEM SET ssl_key_file = {pg_cluster.sql_literal(key)}")
            self._reload_and_wait(c)
        want = tls_kit.fingerprint(cert)
        h.wait_until(lambda: tls_kit.fingerprint(tls_kit.presented_cert(h.HOST, self.port))
                     == want, timeout=15, message=f"PostgreSQL to present {stem}.crt")

    def restore_server_cert(self):
        with self.superuser_conn() as c:
            c.execute("ALTER SYSTEM RESET ssl_cert_file")
            c.execute("ALTER SYSTEM RESET ssl_key_file")
            self._reload_and_wait(c)
        want = tls_kit.fingerprint(os.path.join(self.ssl_dir, "server.crt"))
        h.wait_until(lambda: tls_kit.fingerprint(tls_kit.presented_cert(h.HOST, self.port))
                     == want, timeout=15, message="PostgreSQL to present server.crt again")

    @contextlib.contextmanager
    def server_cert(self, stem):
        """use_server_cert(stem) for the with block, server.crt again after it."""
        self.use_server_cert(stem)
        try:
            yield
        finally:
            self.restore_server_cert()

    @contextlib.contextmanager
    def hba_first(self, lines):
        """pg_hba.conf with `lines` before the usual ones for the with block."""
        with open(self.hba_path) as f:
            original = f.read()
        with open(self.hba_path, "w") as f:
            f.write(lines.rstrip("\n") + "\n" + original)
        try:
            with self.superuser_conn() as c:
                self._reload_and_wait(c)
            yield
        finally:
            with open(self.hba_path, "w") as f:
                f.write(original)
            with self.superuser_conn() as c:
                self._reload_and_wait(c)


def first_match(pattern, *texts):
    """The first match of pattern in any of texts, or None."""
    for text in texts:
        m = re.search(pattern, text or "")
        if m:
            return m
    return None
