#!/usr/bin/python3
"""auth_type = hba: auth_hba_file in pg_hba.conf's format decides each login, first matching line
first. Every method (trust, reject, password, md5, scram-sha-256, cert with map=, peer over the
unix socket with and without map=), the connection types local, host, hostssl and hostnossl,
CIDR and address-plus-mask matching, @file lists, sameuser and all, PostgreSQL 15's refusal
messages with SQLSTATE 28000, the admin console under the same rules, and a broken file on
RELOAD and SIGHUP keeping the rules in force.

The hba and ident files are written into each pooler's directory and named relatively (the
pooler runs there), so @files resolve beside the hba file."""

import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import psycopg

import harness as h
import tls_support as ts
from harness import Pooler, RawClient
from tls_support import client_tls, libpq_tls, ssl_in_use

OS_USER = pwd.getpwuid(os.getuid()).pw_name


def hba_pooler(hba, files=None, **settings):
    """A pooler with auth_type = hba and `hba` as hba.conf."""
    return Pooler({"auth_type": "hba", "auth_hba_file": "hba.conf", **settings},
                  files={"hba.conf": hba, **(files or {})})


def raw_login(pooler, user, dbname="itest", password=None, unix=False, tls=False):
    """A RawClient login over TCP, the unix socket or TLS; returns the client (closed) with
    auth_method and rows (current_user) set. Raises PgError when refused."""
    if tls:
        client = ts.tls_client(pooler.port)
    else:
        client = RawClient(pooler.port, sock=pooler.unix_socket() if unix else None)
    with client:
        client.login(user, dbname, h.password(user) if password is None else password)
        client.rows = client.query("SELECT current_user")
        return client


def refusal(test, pooler, user, dbname="itest", **how):
    """The PgError of a login that must be refused, checked to be FATAL; the caller checks its
    SQLSTATE and message."""
    with test.assertRaises(h.PgError) as caught:
        raw_login(pooler, user, dbname, **how)
    test.assertEqual(caught.exception.fields.get("S"), "FATAL")
    return caught.exception


def no_entry(user, dbname="itest", host=h.HOST, encryption="no encryption"):
    return (f'no pg_hba.conf entry for host "{host}", user "{user}", database "{dbname}", '
            f"{encryption}")


def rejects(user, dbname="itest", host=h.HOST, encryption="no encryption"):
    return (f'pg_hba.conf rejects connection for host "{host}", user "{user}", '
            f'database "{dbname}", {encryption}')


class Methods(unittest.TestCase):
    def test_each_password_method_is_the_one_its_line_names(self):
        hba = ("host itest trustuser 127.0.0.1/32 trust\n"
               "host itest plainuser 127.0.0.1/32 password\n"
               "host itest md5user 127.0.0.1/32 md5\n"
               "host itest scramuser 127.0.0.1/32 scram-sha-256\n")
        users = [(u, h.password(u)) for u in ("trustuser", "plainuser", "scramuser")]
        users.append(("md5user", h.md5_secret("md5user", h.password("md5user"))))
        with Pooler({"auth_type": "hba", "auth_hba_file": "hba.conf"}, users=users,
                    files={"hba.conf": hba}) as pooler:
            for user, method in (("trustuser", "trust"), ("plainuser", "cleartext"),
                                 ("md5user", "md5"), ("scramuser", "scram-sha-256")):
                with self.subTest(user=user):
                    client = raw_login(pooler, user)
                    self.assertEqual(client.auth_method, method)
                    self.assertEqual(client.rows, [[user]])
            # The password methods still check the password.
            for user, expected in (("plainuser", "password authentication failed"),
                                   ("md5user", "password authentication failed"),
                                   ("scramuser", "SASL authentication failed")):
                with self.subTest(wrong_password=user):
                    error = refusal(self, pooler, user, password="wrong")
                    self.assertEqual((error.sqlstate, error.message), ("28P01", expected))
            for user in ("trustuser", "scramuser"):
                proc = pooler.psql("SELECT current_user", user=user)
                self.assertEqual((proc.returncode, proc.stdout.strip()), (0, user), proc.stderr)

    def test_reject_refuses_with_postgresqls_message_and_the_first_match_wins(self):
        hba = ("host all trustuser 127.0.0.1/32 reject\n"
               "host all all 127.0.0.1/32 trust\n"
               "host all trustuser 127.0.0.1/32 trust\n")
        with hba_pooler(hba) as pooler:
            error = refusal(self, pooler, "trustuser")
            self.assertEqual(error.sqlstate, "28000")
            self.assertEqual(error.message, rejects("trustuser"))
            proc = pooler.psql("SELECT 1", user="trustuser")
            self.assertNotEqual(proc.returncode, 0)
            self.assertIn(rejects("trustuser"), proc.stderr)
            # The line after it admits the others without a password, though they have one.
            client = raw_login(pooler, "scramuser")
            self.assertEqual((client.auth_method, client.rows), ("trust", [["scramuser"]]))
            h.wait_until(lambda: re.search(r"itest/trustuser@127\.0\.0\.1:\d+ closing because: "
                                           + re.escape(rejects("trustuser")), pooler.log()),
                         timeout=5, message="the refusal in the log")

    def test_no_matching_line_names_address_user_and_database(self):
        with hba_pooler("host itest scramuser 10.0.0.0/8 trust\n") as pooler:
            for user, dbname, unix in (("scramuser", "itest", False), ("md5user", "other", False),
                                       ("scramuser", "itest", True)):
                with self.subTest(user=user, dbname=dbname, unix=unix):
                    error = refusal(self, pooler, user, dbname, unix=unix)
                    self.assertEqual(error.sqlstate, "28000")
                    self.assertEqual(error.message,
                                     no_entry(user, dbname, "[local]" if unix else h.HOST))
            with self.assertRaisesRegex(psycopg.OperationalError,
                                        re.escape(no_entry("scramuser"))):
                pooler.connect("scramuser").close()


class Matching(unittest.TestCase):
    def test_addresses_match_by_cidr_and_by_mask(self):
        hba = ("host all trustuser 127.0.0.2/32 trust\n"
               "host all trustuser 128.0.0.0/1 trust\n"
               "host all plainuser ::1/128 trust\n"
               "host all scramuser 127.0.0.0/8 trust\n"
               "host all md5user 127.0.0.0 255.255.255.0 trust\n")
        with hba_pooler(hba) as pooler:
            for user in ("scramuser", "md5user"):
                with self.subTest(admitted=user):
                    self.assertEqual(raw_login(pooler, user).rows, [[user]])
            # Outside both prefixes; an IPv6 line never takes an IPv4 client.
            for user in ("trustuser", "plainuser"):
                with self.subTest(refused=user):
                    self.assertEqual(refusal(self, pooler, user).message, no_entry(user))

    def test_connection_types_local_host_hostssl_hostnossl(self):
        hba = ("local all scramuser trust\n"
               "hostssl all md5user 127.0.0.1/32 trust\n"
               "hostnossl all plainuser 127.0.0.1/32 trust\n"
               "host all trustuser 127.0.0.1/32 trust\n")
        with hba_pooler(hba, **client_tls("prefer")) as pooler:
            admitted = [("scramuser", {"unix": True}), ("md5user", {"tls": True}),
                        ("plainuser", {}), ("trustuser", {}), ("trustuser", {"tls": True})]
            for user, how in admitted:
                with self.subTest(admitted=user, **how):
                    self.assertEqual(raw_login(pooler, user, **how).rows, [[user]])
            refused = [("scramuser", {}, no_entry("scramuser")),
                       ("md5user", {}, no_entry("md5user")),
                       ("plainuser", {"tls": True},
                        no_entry("plainuser", encryption="SSL encryption")),
                       ("trustuser", {"unix": True}, no_entry("trustuser", host="[local]"))]
            for user, how, message in refused:
                with self.subTest(refused=user, **how):
                    self.assertEqual(refusal(self, pooler, user, **how).message, message)
            with pooler.connect("md5user", **libpq_tls()) as conn:
                self.assertTrue(ssl_in_use(conn))

    def test_file_lists_sameuser_and_all(self):
        db = h.state()["database"]
        target = f"host={h.HOST} port={h.pg_port()} dbname={db}"
        databases = {"itest": target, "scramuser": target, "other": target, "third": target}
        hba = ("host sameuser all 127.0.0.1/32 trust\n"
               "host @dbs.txt @users.txt 127.0.0.1/32 trust\n"
               "host third all 127.0.0.1/32 trust\n")
        files = {"dbs.txt": "other\n", "users.txt": "md5user, plainuser\n# a comment\n"}
        with Pooler({"auth_type": "hba", "auth_hba_file": "hba.conf"}, databases=databases,
                    files={"hba.conf": hba, **files}) as pooler:
            for user, dbname in (("scramuser", "scramuser"), ("md5user", "other"),
                                 ("plainuser", "other"), ("trustuser", "third")):
                with self.subTest(admitted=user, dbname=dbname):
                    self.assertEqual(raw_login(pooler, user, dbname).rows, [[user]])
            for user, dbname in (("scramuser", "itest"), ("trustuser", "other"),
                                 ("md5user", "itest"), ("md5user", "scramuser")):
                with self.subTest(refused=user, dbname=dbname):
                    self.assertEqual(refusal(self, pooler, user, dbname).message,
                                     no_entry(user, dbname))


class Peer(unittest.TestCase):
    def peer_pooler(self, hba, ident):
        # The server side over PostgreSQL's own unix socket (trust there), so a peer-mapped user
        # needs no password anywhere.
        s = h.state()
        databases = {"itest": f"host={s['socket_dir']} port={s['port']} dbname={s['database']}"}
        return Pooler({"auth_type": "hba", "auth_hba_file": "hba.conf",
                       "auth_ident_file": "ident.conf"},
                      databases=databases, files={"hba.conf": hba, "ident.conf": ident})

    def test_peer_maps_the_os_user_through_the_ident_file(self):
        hba = ("local all scramuser peer map=os\n"
               "local all md5user peer map=os\n"
               "local all trustuser peer\n")
        ident = f"os {OS_USER} scramuser\nos someone-else md5user\n"
        with self.peer_pooler(hba, ident) as pooler:
            client = raw_login(pooler, "scramuser", unix=True, password="")
            self.assertEqual((client.auth_method, client.rows), ("trust", [["scramuser"]]))
            with psycopg.connect(host=pooler.dir, port=pooler.port, user="scramuser",
                                 dbname="itest", password="") as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "scramuser")
            for user, reason in (
                    ("md5user", f'no match in usermap "os" for user "md5user" authenticated as '
                                f'"{OS_USER}"'),
                    ("trustuser", f"provided user name (trustuser) and authenticated user name "
                                  f"({OS_USER}) do not match")):
                with self.subTest(refused=user):
                    error = refusal(self, pooler, user, unix=True, password="")
                    self.assertEqual(error.sqlstate, "28000")
                    self.assertEqual(error.message, f'Peer authentication failed for user "{user}"')
                    h.wait_until(lambda: reason in pooler.log(), timeout=5,
                                 message=f"the reason for {user} in the log")
            # A local line never applies over TCP.
            self.assertEqual(refusal(self, pooler, "scramuser").message, no_entry("scramuser"))

    def test_peer_without_a_map_admits_the_os_user_of_the_same_name(self):
        if os.getuid() != 0 or shutil.which("runuser") is None:
            self.skipTest("needs root to run psql as the postgres OS user")
        with self.peer_pooler("local all postgres peer\n", "") as pooler:
            argv = ["runuser", "-u", "postgres", "--", "psql", "-X", "-A", "-t", "-w",
                    "-h", pooler.dir, "-p", str(pooler.port), "-U", "postgres", "-d", "itest",
                    "-c", "SELECT current_user"]
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
            self.assertEqual((proc.returncode, proc.stdout.strip()), (0, "postgres"), proc.stderr)
            # This process's OS user is not postgres.
            error = refusal(self, pooler, "postgres", unix=True, password="")
            self.assertEqual(error.message, 'Peer authentication failed for user "postgres"')

    def test_peer_on_a_host_line_is_refused_when_the_file_is_loaded(self):
        # As in PostgreSQL, at load time: --check names the line.
        with tempfile.TemporaryDirectory(prefix="pooler-hba-check-") as directory:
            hba = os.path.join(directory, "hba.conf")
            with open(hba, "w") as f:
                f.write("local all all peer\nhost all all 127.0.0.1/32 peer\n")
            ini = os.path.join(directory, "pooler.ini")
            with open(ini, "w") as f:
                f.write(f"[pooler]\nauth_type = hba\nauth_hba_file = {hba}\n")
            proc = subprocess.run([h.pooler_bin(), "--check", ini], capture_output=True,
                                  text=True, timeout=30)
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        self.assertIn(f"{hba}:2: error: peer authentication is only for local (unix socket) "
                      "connections", proc.stdout)


class Cert(ts.TlsCase):
    def test_cert_with_a_map_compares_the_common_name_through_the_ident_file(self):
        k = ts.kit()
        alias = k.sign("client_hba_alias", "alias.example", kind="client")
        hba = "hostssl all all 127.0.0.1/32 cert map=certs\n"
        with hba_pooler(hba, files={"ident.conf": "certs alias.example scramuser\n"},
                        auth_ident_file="ident.conf", **client_tls("verify-ca")) as pooler:
            with pooler.connect("scramuser", password="", **libpq_tls(cert=alias)) as conn:
                self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], "scramuser")
            # The map, not the common name, decides: CN=md5user is not mapped to md5user.
            for user, cert in (("md5user", alias), ("md5user", k.client("md5user"))):
                with self.subTest(user=user, cert=cert[0]):
                    with self.assertRaisesRegex(psycopg.OperationalError,
                                                "certificate authentication failed"):
                        pooler.connect(user, password="", **libpq_tls(cert=cert)).close()


class Console(unittest.TestCase):
    def test_the_console_goes_through_the_hba_rules(self):
        hba = ("host pgbouncer md5user 127.0.0.1/32 reject\n"
               "host pgbouncer scramuser 127.0.0.1/32 scram-sha-256\n"
               "host all all 127.0.0.1/32 trust\n")
        with hba_pooler(hba, admin_users="scramuser,md5user") as pooler:
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                self.assertTrue(admin.execute("SHOW VERSION").fetchone()[0].startswith("pooler"))
            with self.assertRaisesRegex(psycopg.OperationalError, "SASL authentication failed"):
                pooler.connect("scramuser", dbname="pgbouncer", password="wrong").close()
            error = refusal(self, pooler, "md5user", dbname="pgbouncer")
            self.assertEqual((error.sqlstate, error.message),
                             ("28000", rejects("md5user", "pgbouncer")))
            # No local line: the unix socket is refused, except user pgbouncer from the
            # pooler's own uid, which PgBouncer lets in before any rule.
            error = refusal(self, pooler, "scramuser", dbname="pgbouncer", unix=True)
            self.assertEqual(error.message, no_entry("scramuser", "pgbouncer", "[local]"))
            with psycopg.connect(host=pooler.dir, port=pooler.port, user="pgbouncer",
                                 dbname="pgbouncer", autocommit=True) as own:
                self.assertTrue(own.execute("SHOW VERSION").fetchone()[0].startswith("pooler"))


class Reload(unittest.TestCase):
    GOOD = "host all trustuser 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    BROKEN = "host all trustuser 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 ldap\n"
    NEXT = "host all trustuser 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 scram-sha-256\n"

    def test_a_broken_file_keeps_the_rules_in_force_on_reload_and_sighup(self):
        with hba_pooler(self.GOOD, admin_users="scramuser") as pooler:
            self.assertEqual(raw_login(pooler, "trustuser").auth_method, "trust")
            pooler.write_file("hba.conf", self.BROKEN)
            where = 'hba.conf:2: error: authentication method "ldap" is not supported'
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                with self.assertRaises(psycopg.Error) as caught:
                    admin.execute("RELOAD")
            self.assertIn("configuration has errors", str(caught.exception))
            self.assertIn(where, str(caught.exception))
            self.assertIn(where, pooler.log())
            self.assertEqual(raw_login(pooler, "trustuser").auth_method, "trust")
            self.assertEqual(raw_login(pooler, "md5user").auth_method, "scram-sha-256")

            failed_before = pooler.log().count("reload failed")
            pooler.send_signal(signal.SIGHUP)
            h.wait_until(lambda: pooler.log().count("reload failed") > failed_before, timeout=10,
                         message="the failed SIGHUP reload in the log")
            self.assertEqual(raw_login(pooler, "trustuser").auth_method, "trust")

            # A good file is taken on the next RELOAD.
            pooler.write_file("hba.conf", self.NEXT)
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                admin.execute("RELOAD")
            self.assertIn("configuration reloaded: hba: changed", pooler.log())
            self.assertEqual(refusal(self, pooler, "trustuser").message, rejects("trustuser"))


if __name__ == "__main__":
    h.main()
