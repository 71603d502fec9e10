"""Host lists and DNS: new servers go over a [databases] entry's hosts as load_balance_hosts
says, a host that failed is passed over while another works (and tried again after
server_login_retry), cancels go to the server's own host, and host names resolve through the
DNS cache that SHOW DNS_HOSTS shows.

The "hosts" are the test PostgreSQL itself and TCP relays in front of it (on 127.0.0.2, which is
loopback on Linux while PostgreSQL listens on 127.0.0.1 only, or on another port), and dead
listeners that accept and hang up at once, so that every connect attempt to them is counted.
The re-resolution case runs the pooler in a private mount namespace whose /etc/hosts it
rewrites."""

import collections
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time

import psycopg

import harness as h
from tcp_proxy import pump
from harness import Pooler
from isolated_db import Case

SETTINGS = {"auth_type": "md5", "admin_users": "scramuser", "pool_mode": "transaction",
            "server_login_retry": 30, "query_wait_timeout": 30, "log_connections": 1}
SECOND_LOOPBACK = "127.0.0.2"


class Relay:
    """Listens on `host`:`port` (0: a free port) and relays each connection to PostgreSQL.
    .accepted counts the connections, .cancels the CancelRequests among them. A dead relay
    (dead=True, or after go_dead()) accepts and hangs up at once, and go_dead() also cuts the
    connections it relayed so far."""

    def __init__(self, host=h.HOST, port=0, dead=False):
        self.host, self.dead = host, dead
        self.accepted = self.cancels = 0
        self._lock = threading.Lock()
        self._relayed = []
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._listener.close()
        self._cut()
        return False

    def go_dead(self):
        self.dead = True
        self._cut()

    def _cut(self):
        with self._lock:
            relayed, self._relayed = self._relayed, []
        for s in relayed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            if self.dead:
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = h.recv_exact(client, 8)
            upstream = socket.create_connection((h.HOST, h.pg_port()), timeout=10)
        except (OSError, AssertionError):
            client.close()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        length, code = struct.unpack("!ii", head)
        with self._lock:
            if length == 16 and code == h.CANCEL_REQUEST_CODE:
                self.cancels += 1
            self._relayed += [client, upstream]
        try:
            upstream.sendall(head)
        except OSError:
            return
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        pump(client, upstream)


def show(pooler, what):
    """Rows of a console SHOW command as dicts."""
    with pooler.connect("scramuser", dbname="pgbouncer") as admin:
        return h.show(admin, what)[1]


def servers_of(pooler, db):
    return [s for s in show(pooler, "SERVERS") if s["database"] == db]


def where(servers):
    """How many servers are on each (addr, port)."""
    return collections.Counter((s["addr"], s["port"]) for s in servers)


def hold(case, pooler, n):
    """n clients of the case's database, each inside a transaction so each holds a server of
    its own; opened one after another, so the servers are opened in that order too."""
    conns = []
    try:
        for _ in range(n):
            conn = case.connect(pooler, autocommit=False)
            conns.append(conn)
            case.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)
    except BaseException:
        release(conns)
        raise
    return conns


def release(conns):
    for conn in conns:
        try:
            conn.rollback()
            conn.close()
        except psycopg.Error:
            pass


class Hosts(Case):
    db_prefix = "hosts"

    def pooler(self, host, port, settings=None, **db_options):
        line = f"host={host} port={port} dbname={self.db}"
        line += "".join(f" {k}={v}" for k, v in db_options.items())
        return Pooler({**SETTINGS, **(settings or {})}, databases={self.db: line})

    def one_query(self, pooler):
        with self.connect(pooler) as conn:
            self.assertEqual(conn.execute("SELECT 1").fetchone()[0], 1)

    def test_a_dead_host_fails_once_then_is_passed_over(self):
        with Relay(dead=True) as dead, \
                self.pooler("127.0.0.1,127.0.0.1", f"{dead.port},{h.pg_port()}") as pooler:
            started = time.monotonic()
            self.one_query(pooler)
            # Served by the second host at once, not after server_login_retry (30 s).
            self.assertLess(time.monotonic() - started, 10)
            self.assertEqual(dead.accepted, 1)
            conns = hold(self, pooler, 5)
            try:
                self.assertEqual(dead.accepted, 1,
                                 "the dead host was tried again within server_login_retry")
                self.assertEqual(where(servers_of(pooler, self.db)),
                                 {("127.0.0.1", h.pg_port()): 5})
            finally:
                release(conns)
            log = pooler.log()
            self.assertIn(f"@127.0.0.1:{dead.port} closing because: connect failed", log)
            self.assertIn(f"@127.0.0.1:{h.pg_port()} new connection to server (from", log)

    def test_a_failed_host_is_tried_again_after_server_login_retry(self):
        with Relay(dead=True) as dead, \
                self.pooler("127.0.0.1,127.0.0.1", f"{dead.port},{h.pg_port()}",
                            {"server_login_retry": 1}) as pooler:
            self.one_query(pooler)
            self.assertEqual(dead.accepted, 1)
            time.sleep(1.5)
            # The second server is the dead host's turn again: it fails, and the live one serves.
            conns = hold(self, pooler, 2)
            release(conns)
            self.assertEqual(dead.accepted, 2)

    def test_every_host_dead_fails_the_client_then_refuses_until_server_login_retry(self):
        with Relay(dead=True) as first, Relay(dead=True) as second, \
                self.pooler("127.0.0.1,127.0.0.1", f"{first.port},{second.port}") as pooler:
            started = time.monotonic()
            with self.assertRaises(psycopg.OperationalError):
                self.one_query(pooler)
            self.assertLess(time.monotonic() - started, 10, "the client waited for its timeout")
            self.assertEqual((first.accepted, second.accepted), (1, 1))
            with self.assertRaises(psycopg.OperationalError) as refused:
                self.one_query(pooler)
            self.assertIn("server login has been failing, try again later (server_login_retry)",
                          str(refused.exception))
            self.assertEqual((first.accepted, second.accepted), (1, 1))

    def test_round_robin_spreads_new_servers_and_cancels_go_to_each_servers_host(self):
        with Relay(SECOND_LOOPBACK) as relay, \
                self.pooler(f"127.0.0.1,{SECOND_LOOPBACK}", f"{h.pg_port()},{relay.port}") as pooler:
            conns = hold(self, pooler, 4)
            try:
                self.assertEqual(where(servers_of(pooler, self.db)),
                                 {("127.0.0.1", h.pg_port()): 2,
                                  (SECOND_LOOPBACK, relay.port): 2})
                self.assertEqual(relay.accepted, 2)
                # The first two clients' servers are on different hosts: cancel both queries.
                errors = []

                def sleep(conn):
                    try:
                        conn.execute("SELECT pg_sleep(60)")
                    except psycopg.errors.QueryCanceled as e:
                        errors.append(e)

                threads = [threading.Thread(target=sleep, args=(c,)) for c in conns[:2]]
                for t in threads:
                    t.start()
                h.wait_until(lambda: len([b for b in h.backends(self.db, state_filter="active")
                                          if "pg_sleep" in (b[4] or "")]) == 2,
                             message="both pg_sleep queries running")
                for c in conns[:2]:
                    c.cancel()
                for t in threads:
                    t.join(30)
                self.assertEqual(len(errors), 2)
                self.assertEqual(relay.cancels, 1, "a cancel went to another host than its server")
                pool = next(p for p in show(pooler, "POOLS") if p["database"] == self.db)
                self.assertEqual(pool["load_balance_hosts"], "round-robin")
                db = next(d for d in show(pooler, "DATABASES") if d["name"] == self.db)
                self.assertEqual(db["host"], f"127.0.0.1,{SECOND_LOOPBACK}")
                self.assertEqual(db["load_balance_hosts"], "round-robin")
            finally:
                release(conns)
            self.assertIn(f"@{SECOND_LOOPBACK}:{relay.port} new connection to server (from",
                          pooler.log())

    def test_disable_stays_on_the_first_host_until_it_fails(self):
        with Relay(SECOND_LOOPBACK) as first, \
                self.pooler(f"{SECOND_LOOPBACK},127.0.0.1", f"{first.port},{h.pg_port()}",
                            load_balance_hosts="disable") as pooler:
            conns = hold(self, pooler, 3)
            self.assertEqual(where(servers_of(pooler, self.db)), {(SECOND_LOOPBACK, first.port): 3})
            release(conns)
            first.go_dead()
            h.wait_until(lambda: not servers_of(pooler, self.db),
                         message="the servers on the first host gone")
            conns = hold(self, pooler, 3)
            try:
                self.assertEqual(where(servers_of(pooler, self.db)), {("127.0.0.1", h.pg_port()): 3})
                self.assertEqual(first.accepted, 4, "the first host was tried more than once "
                                 "after it died")
                db = next(d for d in show(pooler, "DATABASES") if d["name"] == self.db)
                self.assertEqual(db["load_balance_hosts"], "disable")
            finally:
                release(conns)

    def test_a_reload_that_changes_the_host_list_reconnects_the_servers(self):
        with Relay(SECOND_LOOPBACK) as relay, self.pooler("127.0.0.1", h.pg_port()) as pooler:
            conns = hold(self, pooler, 1)
            pooler.databases = {self.db: f"host=127.0.0.1,{SECOND_LOOPBACK} "
                                         f"port={h.pg_port()},{relay.port} dbname={self.db}"}
            pooler.write_config()
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                admin.execute("RELOAD")
            self.assertEqual([s["close_needed"] for s in servers_of(pooler, self.db)], [1])
            release(conns)
            h.wait_until(lambda: not servers_of(pooler, self.db),
                         message="the server of the old host list closed at release")
            conns = hold(self, pooler, 2)
            try:
                self.assertEqual(where(servers_of(pooler, self.db)),
                                 {("127.0.0.1", h.pg_port()): 1,
                                  (SECOND_LOOPBACK, relay.port): 1})
            finally:
                release(conns)

    def test_server_round_robin_reuses_idle_servers_oldest_first(self):
        for round_robin, expected in ((0, 1), (1, 2)):
            with self.subTest(server_round_robin=round_robin), \
                    self.pooler("127.0.0.1", h.pg_port(),
                                {"server_round_robin": round_robin}) as pooler:
                release(hold(self, pooler, 2))  # two idle servers
                with self.connect(pooler) as conn:
                    pids = [conn.execute("SELECT pg_backend_pid()").fetchone()[0]
                            for _ in range(4)]
                # Most recently used first keeps to one server; oldest first alternates.
                self.assertEqual(len(set(pids)), expected, pids)
                if round_robin:
                    self.assertNotEqual(pids[0], pids[1], pids)

    def test_a_host_name_resolves_through_the_dns_cache(self):
        with self.pooler("localhost", h.pg_port(), {"dns_max_ttl": 30}) as pooler:
            self.one_query(pooler)
            hosts = {r["hostname"]: r for r in show(pooler, "DNS_HOSTS")}
            self.assertIn("localhost", hosts)
            self.assertIn("127.0.0.1", hosts["localhost"]["addrs"].split(","))
            self.assertTrue(0 < hosts["localhost"]["ttl"] <= 30, hosts["localhost"])
            self.assertEqual(show(pooler, "DNS_ZONES"), [])
            lists = {r["list"]: r["items"] for r in show(pooler, "LISTS")}
            self.assertEqual(lists["dns_names"], 1)
            self.assertEqual(lists["dns_pending"], 0)
            servers = servers_of(pooler, self.db)
            self.assertEqual(where(servers), {("127.0.0.1", h.pg_port()): 1})
            pool = next(p for p in show(pooler, "POOLS") if p["database"] == self.db)
            self.assertIsNone(pool["load_balance_hosts"])
            # A reload's dns_max_ttl applies to the names already cached.
            pooler.settings["dns_max_ttl"] = 300
            pooler.write_config()
            with pooler.connect("scramuser", dbname="pgbouncer") as admin:
                admin.execute("RELOAD")
            ttl = next(r["ttl"] for r in show(pooler, "DNS_HOSTS") if r["hostname"] == "localhost")
            self.assertTrue(30 < ttl <= 300, ttl)

    def test_an_unknown_host_name_fails_the_login_with_the_resolver_error(self):
        with self.pooler("no-such-host.invalid", h.pg_port()) as pooler:
            with self.assertRaises(psycopg.OperationalError) as failed:
                self.one_query(pooler)
            self.assertIn("could not resolve host", str(failed.exception))
            hosts = {r["hostname"]: r for r in show(pooler, "DNS_HOSTS")}
            self.assertEqual(hosts["no-such-host.invalid"]["addrs"], "")


def private_hosts_launcher(hosts_file):
    """argv that runs its arguments with `hosts_file` bind-mounted on /etc/hosts in a private
    mount namespace; None (and why) when this machine does not allow it."""
    if shutil.which("unshare") is None:
        return None, "unshare is not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            f'mount --bind "{hosts_file}" /etc/hosts'],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"cannot bind-mount /etc/hosts in a mount namespace: {probe.stderr.strip()}"
    script = 'set -e; mount --bind "$1" /etc/hosts; shift; exec "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
            hosts_file], None


class Reresolution(Case):
    db_prefix = "dns"

    def test_servers_on_an_address_dns_no_longer_lists_reconnect(self):
        work = tempfile.mkdtemp(prefix="pooler-dns-")
        self.addCleanup(shutil.rmtree, work, True)
        hosts_file = os.path.join(work, "hosts")

        def write_hosts(*addresses):
            # In place: the bind mount follows the inode, so a rename would not be seen.
            with open(hosts_file, "w") as f:
                f.write("127.0.0.1 localhost\n")
                f.writelines(f"{a} dbhost.test\n" for a in addresses)

        write_hosts("127.0.0.1", SECOND_LOOPBACK)
        launcher, why = private_hosts_launcher(hosts_file)
        if launcher is None:
            self.skipTest(why)
        settings = {**SETTINGS, "dns_max_ttl": 1}
        databases = {self.db: f"host=dbhost.test port={h.pg_port()} dbname={self.db}"}
        # The name's second address is a relay on PostgreSQL's port number.
        with Relay(SECOND_LOOPBACK, h.pg_port()) as relay, \
                Pooler(settings, databases=databases, launcher=launcher) as pooler:
            conns = hold(self, pooler, 2)
            try:
                self.assertEqual(where(servers_of(pooler, self.db)),
                                 {("127.0.0.1", h.pg_port()): 1, (SECOND_LOOPBACK, h.pg_port()): 1})
                self.assertEqual(relay.accepted, 1)
                dns = {r["hostname"]: r for r in show(pooler, "DNS_HOSTS")}
                self.assertEqual(dns["dbhost.test"]["addrs"], f"127.0.0.1,{SECOND_LOOPBACK}")

                write_hosts("127.0.0.1")
                time.sleep(1.2)  # past dns_max_ttl: the next connect resolves again
                conns += hold(self, pooler, 1)
                servers = servers_of(pooler, self.db)
                self.assertEqual(where(servers), {("127.0.0.1", h.pg_port()): 2,
                                                  (SECOND_LOOPBACK, h.pg_port()): 1})
                marked = {s["addr"]: s["close_needed"] for s in servers if s["close_needed"]}
                self.assertEqual(marked, {SECOND_LOOPBACK: 1})
                dns = {r["hostname"]: r for r in show(pooler, "DNS_HOSTS")}
                self.assertEqual(dns["dbhost.test"]["addrs"], "127.0.0.1")
            finally:
                release(conns)
            h.wait_until(lambda: SECOND_LOOPBACK not in {s["addr"]
                                                         for s in servers_of(pooler, self.db)},
                         message="the server on the dropped address closed at release")
            self.assertIn(f"dbhost.test no longer resolves to {SECOND_LOOPBACK}", pooler.log())
            self.assertEqual(relay.accepted, 1)


if __name__ == "__main__":
    h.main()
