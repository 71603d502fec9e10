#!/usr/bin/python3
"""Malformed and unusual input on raw sockets: bad startup lengths, truncated packets, unknown
protocol versions, garbage, oversized and broken messages after login. The pooler answers with
an ErrorResponse or closes, never hangs, never crashes, and keeps serving normal clients. An
SSLRequest is answered 'N' and the same socket can then log in."""

import socket
import struct
import time
import unittest

import psycopg

import harness as h
from harness import Pooler, RawClient

PROMPT = 3.0  # an invalid packet is refused at once; this is the slack for a loaded machine
SETTINGS = {"pool_mode": "session", "client_login_timeout": 30, "max_packet_size": 65536}


class Malformed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pooler = Pooler(SETTINGS).__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.pooler.__exit__(None, None, None)

    def tearDown(self):
        self.pooler.assert_healthy(self)

    def refused(self, sock, within=PROMPT, allowed=(b"E",)):
        """Waits for an ErrorResponse or a close; returns the error fields (or None if closed).
        Fails if nothing happens within `within` seconds."""
        sock.settimeout(within)
        try:
            first = sock.recv(1)
        except socket.timeout:
            self.fail(f"the pooler neither answered nor closed within {within} s")
        except ConnectionResetError:
            return None
        if not first:
            return None
        self.assertIn(first, allowed, f"unexpected reply byte {first!r}")
        if first != b"E":
            return first
        sock.settimeout(10)
        length = struct.unpack("!i", h.recv_exact(sock, 4))[0]
        fields = h.error_fields(h.recv_exact(sock, length - 4))
        self.assertEqual(fields.get("S"), "FATAL", fields)
        self.assertRegex(fields.get("C", ""), r"^[0-9A-Z]{5}$", fields)
        # After a FATAL the pooler closes (a forwarded server FATAL may be followed by the
        # pooler's own, as PgBouncer does).
        try:
            while True:
                kind, _ = h.read_message(sock)
                self.assertIn(kind, (b"E", b"N"), "a message after a FATAL error")
        except ConnectionError:
            pass
        except socket.timeout:
            self.fail("the pooler did not close after its FATAL error")
        return fields

    def send_raw(self, data, shutdown=False):
        sock = self.pooler.raw_socket()
        try:
            sock.sendall(data)
        except OSError:
            pass  # it may already have refused and closed
        if shutdown:
            sock.shutdown(socket.SHUT_WR)
        return sock

    def test_startup_lengths_out_of_range(self):
        version = struct.pack("!i", h.PROTOCOL_3_0)
        # Each header is complete (length and version): only the length is wrong.
        for name, header in [("length 4", struct.pack("!i", 4) + version),
                             ("length 0", struct.pack("!i", 0) + version),
                             ("length -1", struct.pack("!i", -1) + version),
                             ("length 2^31-1", struct.pack("!i", 2**31 - 1) + version),
                             ("length 2^31", struct.pack("!I", 2**31) + version),
                             ("length 10 MB", struct.pack("!i", 10 << 20) + version)]:
            with self.subTest(name), self.send_raw(header) as sock:
                fields = self.refused(sock)
                if fields:
                    self.assertEqual(fields["C"], "08P01", fields)

    def test_truncated_startup_then_close(self):
        packet = h.startup_packet("scramuser", "itest")
        for cut in (1, 3, 4, 7, len(packet) - 1):
            with self.subTest(bytes_sent=cut), self.send_raw(packet[:cut], shutdown=True) as s:
                self.refused(s)

    def test_unknown_protocol_versions(self):
        # 1234.5678-5680 are cancel, SSL and GSSENC requests; 1234.5690 is nothing.
        for major, minor in ((2, 0), (4, 0), (1234, 5690), (0, 0)):
            with self.subTest(version=f"{major}.{minor}"):
                packet = h.startup_packet("scramuser", "itest", version=(major << 16) | minor)
                with self.send_raw(packet) as sock:
                    fields = self.refused(sock)
                    if fields:
                        # PostgreSQL says 0A000 (unsupported frontend protocol).
                        self.assertIn(fields["C"], ("0A000", "08P01"), fields)

    def test_garbage_instead_of_a_startup_packet(self):
        for name, data in [("http", b"GET / HTTP/1.1\r\nHost: pooler\r\n\r\n"),
                           ("zeros", b"\0" * 64),
                           ("tls client hello", bytes.fromhex("160301020001") + b"\x01" * 200)]:
            with self.subTest(name), self.send_raw(data) as sock:
                self.refused(sock)

    def test_bad_startup_contents(self):
        no_user = struct.pack("!i", h.PROTOCOL_3_0) + b"database\0itest\0\0"
        with self.subTest("no user"), self.send_raw(self.framed(no_user)) as sock:
            self.refused(sock)
        huge = h.startup_packet("scramuser", "itest", options="x" * 20000)
        with self.subTest("20 kB startup packet"), self.send_raw(huge) as sock:
            self.refused(sock)
        # A missing final terminator may be tolerated (PgBouncer does): refusing it or going
        # on to authentication are both fine, hanging or crashing is not.
        unterminated = struct.pack("!i", h.PROTOCOL_3_0) + b"user\0scramuser\0database\0itest"
        with self.subTest("unterminated"), self.send_raw(self.framed(unterminated)) as sock:
            self.refused(sock, allowed=(b"E", b"R"))

    @staticmethod
    def framed(body):
        return struct.pack("!i", len(body) + 4) + body

    def test_ssl_request_gets_N_then_startup_works_on_the_same_socket(self):
        client = RawClient(self.pooler.port)
        with client:
            client.send(struct.pack("!ii", 8, h.SSL_REQUEST_CODE))
            self.assertEqual(h.recv_exact(client.sock, 1), b"N")
            client.login("scramuser", "itest", h.password("scramuser"))
            self.assertEqual(client.query("SELECT 'after N'"), [["after N"]])

    def test_gssenc_request_is_declined(self):
        with RawClient(self.pooler.port) as client:
            client.send(struct.pack("!ii", 8, h.GSSENC_REQUEST_CODE))
            reply = self.refused(client.sock, allowed=(b"E", b"N"))
            if reply == b"N":
                client.login("scramuser", "itest", h.password("scramuser"))
                self.assertEqual(client.query("SELECT 1"), [["1"]])

    def test_psql_sslmode_prefer_works_and_require_fails_cleanly(self):
        proc = self.pooler.psql("SELECT 'prefer ok'", sslmode="prefer", timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "prefer ok")
        start = time.monotonic()
        proc = self.pooler.psql("SELECT 1", sslmode="require", timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("SSL", proc.stderr)
        self.assertLess(time.monotonic() - start, 10)

    def logged_in(self):
        client = RawClient(self.pooler.port)
        client.login("scramuser", "itest", h.password("scramuser"))
        return client

    def test_message_over_max_packet_size_after_login(self):
        with self.logged_in() as client:
            # A header announcing 10 MB: refused without waiting for the body.
            client.send(b"Q" + struct.pack("!i", 10 << 20) + b"SELECT ")
            self.refused(client.sock)
        with self.logged_in() as client:
            # A complete 200 kB query.
            client.send(h.message(b"Q", b"SELECT '" + b"x" * 200_000 + b"'\0"))
            self.refused(client.sock)
        with self.assertRaises(psycopg.Error):
            with self.pooler.connect("scramuser") as conn:
                conn.execute("SELECT length(%s)", ("y" * 200_000,))
        # Just under the limit still passes.
        with self.pooler.connect("scramuser") as conn:
            self.assertEqual(conn.execute("SELECT length(%s)", ("z" * 30_000,)).fetchone()[0],
                             30_000)

    def test_broken_messages_after_login(self):
        for name, data in [("length 2", b"Q" + struct.pack("!i", 2)),
                           ("length -5", b"Q" + struct.pack("!i", -5)),
                           ("unknown type", h.message(b"y", b"abc"))]:
            with self.subTest(name), self.logged_in() as client:
                client.send(data)
                self.refused(client.sock, within=PROMPT + 2)

    def test_truncated_message_then_close_after_login(self):
        with self.logged_in() as client:
            client.send(b"Q" + struct.pack("!i", 100) + b"SELECT")
            client.sock.shutdown(socket.SHUT_WR)
            self.refused(client.sock)


class LoginTimeout(unittest.TestCase):
    def test_stalled_startup_is_closed_after_client_login_timeout(self):
        with Pooler({"client_login_timeout": 2}) as pooler:
            packet = h.startup_packet("scramuser", "itest")
            for name, data in [("nothing", b""), ("half a startup packet", packet[:10])]:
                with self.subTest(name), pooler.raw_socket() as sock:
                    sock.sendall(data)
                    start = time.monotonic()
                    sock.settimeout(15)
                    try:
                        rest = h.read_until_closed(sock)
                    except ConnectionResetError:
                        rest = b""
                    except socket.timeout:
                        self.fail("a stalled login was kept open past client_login_timeout")
                    self.assertIn(rest[:1], (b"", b"E"))
                    self.assertLess(time.monotonic() - start, 14)
            pooler.assert_healthy(self)


if __name__ == "__main__":
    h.main()
