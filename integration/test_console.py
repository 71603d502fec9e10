#!/usr/bin/python3
"""The admin console as operators and drivers reach it: psql's SHOW commands answer PgBouncer's
columns with live values (SHOW SOCKETS and ACTIVE_SOCKETS too), psycopg 3 works over the
extended protocol, access follows admin_users and stats_users (plus user pgbouncer over the unix
socket from the pooler's own uid), and an unknown command is an error, not a disconnect."""

import subprocess
import threading
import unittest

import psycopg

import harness as h
from harness import Pooler

SETTINGS = {"auth_type": "scram-sha-256", "pool_mode": "transaction", "default_pool_size": 2,
            "admin_users": "scramuser", "stats_users": "md5user"}

POOLS_COLUMNS = ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
                 "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled",
                 "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us",
                 "pool_mode", "load_balance_hosts"]


def console(pooler, user="scramuser", **kwargs):
    return pooler.connect(user, dbname="pgbouncer", **kwargs)


class Console(unittest.TestCase):
    def test_show_pools_over_psql_has_pgbouncer_columns_and_live_values(self):
        with Pooler(SETTINGS) as pooler:
            proc = pooler.psql("SHOW POOLS", dbname="pgbouncer", args=("-P", "footer=off"),
                               check=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # Two clients hold the two servers in open transactions; a third waits.
            holders = [pooler.connect("scramuser", autocommit=False) for _ in range(2)]
            try:
                for conn in holders:
                    conn.execute("SELECT 1")
                waiter = threading.Thread(
                    target=lambda: pooler.psql("SELECT 1", timeout=30), daemon=True)
                waiter.start()
                with console(pooler) as admin:
                    rows = []
                    for _ in range(100):
                        cur = admin.execute("SHOW POOLS")
                        names = [d.name for d in cur.description]
                        rows = [dict(zip(names, r)) for r in cur.fetchall()]
                        mine = [r for r in rows if r["user"] == "scramuser"]
                        if mine and mine[0]["cl_waiting"] >= 1:
                            break
                        threading.Event().wait(0.05)
                    self.assertEqual(names, POOLS_COLUMNS)
                    self.assertTrue(mine, rows)
                    self.assertEqual(mine[0]["sv_active"], 2, mine)
                    self.assertGreaterEqual(mine[0]["cl_waiting"], 1, mine)
                    self.assertEqual(mine[0]["pool_mode"], "transaction")
                    clients = admin.execute("SHOW CLIENTS").fetchall()
                    self.assertGreaterEqual(len(clients), 4, clients)  # 2 holders, waiter, us
                    servers = admin.execute("SHOW SERVERS").fetchall()
                    self.assertEqual(len(servers), 2, servers)
                for conn in holders:
                    conn.rollback()
                waiter.join(timeout=30)
                self.assertFalse(waiter.is_alive(), "the waiting client was never served")
            finally:
                for conn in holders:
                    conn.close()

    def test_show_sockets_and_active_sockets_over_psql(self):
        def table(pooler, command):
            proc = pooler.psql(command, dbname="pgbouncer", check=True,
                               args=("-P", "tuples_only=off", "-P", "footer=off"))
            header, *rows = proc.stdout.strip().splitlines()
            names = header.split("|")
            return names, [dict(zip(names, r.split("|"))) for r in rows]

        with Pooler(SETTINGS) as pooler:
            idle = pooler.connect("scramuser", application_name="idle-socket")
            busy = pooler.connect("scramuser", application_name="busy-socket")
            try:
                idle.execute("SELECT 1")  # transaction mode: holds no server afterwards
                sleeper = threading.Thread(target=lambda: busy.execute("SELECT pg_sleep(3)"),
                                           daemon=True)
                sleeper.start()
                client_columns, _ = table(pooler, "SHOW CLIENTS")
                active = []
                for _ in range(100):
                    names, active = table(pooler, "SHOW ACTIVE_SOCKETS")
                    mine = [r for r in active if r["application_name"] == "busy-socket"]
                    if mine and mine[0]["link"]:
                        break
                    threading.Event().wait(0.05)
                buffer_columns = ["recv_pos", "pkt_pos", "pkt_remain", "send_pos", "send_remain",
                                  "pkt_avail", "send_avail"]
                self.assertEqual(names, client_columns + buffer_columns)
                self.assertTrue(mine, active)
                self.assertEqual(mine[0]["type"], "C")
                # The server running the sleep is in flight too; the idle client is not.
                servers = [r for r in active if r["type"] == "S" and r["ptr"] == mine[0]["link"]]
                self.assertEqual(len(servers), 1, active)
                self.assertNotIn("idle-socket", [r["application_name"] for r in active])

                names, every = table(pooler, "SHOW SOCKETS")
                self.assertEqual(names, client_columns + buffer_columns)
                self.assertIn("idle-socket", [r["application_name"] for r in every])
                self.assertIn(servers[0]["ptr"], [r["ptr"] for r in every if r["type"] == "S"])
                for row in every:
                    for column in buffer_columns:
                        self.assertGreaterEqual(int(row[column]), 0, row)
                sleeper.join(timeout=30)
                self.assertFalse(sleeper.is_alive())
            finally:
                idle.close()
                busy.close()

    def test_extended_protocol_from_psycopg(self):
        with Pooler(SETTINGS) as pooler, console(pooler) as admin:
            # psycopg sends Parse/Bind/Describe/Execute/Sync, which PgBouncer's console refuses.
            version = admin.execute("SHOW VERSION").fetchone()[0]
            self.assertTrue(version.startswith("pooler "), version)
            state = dict(admin.execute("SHOW STATE").fetchall())
            self.assertEqual(state["paused"], "no")
            config = {r[0]: r[1] for r in admin.execute("SHOW CONFIG").fetchall()}
            self.assertEqual(config["default_pool_size"], "2")

    def test_unknown_command_is_an_error_and_the_session_goes_on(self):
        with Pooler(SETTINGS) as pooler, console(pooler) as admin:
            with self.assertRaises(psycopg.errors.SyntaxError):
                admin.execute("SHOW NO_SUCH_THING")
            self.assertEqual(admin.execute("SHOW VERSION").rowcount, 1)

    def test_access_follows_admin_and_stats_users(self):
        with Pooler(SETTINGS) as pooler:
            with console(pooler, "md5user") as stats:
                self.assertTrue(stats.execute("SHOW POOLS").fetchall() is not None)
                with self.assertRaises(psycopg.errors.InsufficientPrivilege):
                    stats.execute("RELOAD")
            with console(pooler, "scramuser") as admin:
                admin.execute("RELOAD")
            with self.assertRaises(psycopg.OperationalError) as refused:
                console(pooler, "plainuser")
            self.assertIn("not allowed", str(refused.exception))

    def test_trust_lets_nobody_in_who_is_not_listed(self):
        # auth_type=trust skips the password, not the admin_users/stats_users check; over the
        # unix socket too, for any user but pgbouncer.
        with Pooler(dict(SETTINGS, auth_type="trust")) as pooler:
            for host in (h.HOST, pooler.dir):
                with self.assertRaises(psycopg.OperationalError) as refused:
                    psycopg.connect(host=host, port=pooler.port, user="plainuser",
                                    dbname="pgbouncer", sslmode="disable")
                self.assertIn("not allowed", str(refused.exception))
            with psycopg.connect(host=pooler.dir, port=pooler.port, user="md5user",
                                 dbname="pgbouncer", autocommit=True) as stats:
                stats.execute("SHOW POOLS")
                with self.assertRaises(psycopg.errors.InsufficientPrivilege):
                    stats.execute("PAUSE")

    def test_user_pgbouncer_over_the_unix_socket_from_the_pooler_uid(self):
        with Pooler(SETTINGS) as pooler:
            # The pooler runs as this process's uid, so no password is asked for.
            proc = subprocess.run(
                ["psql", "-X", "-A", "-t", "-h", pooler.dir, "-p", str(pooler.port),
                 "-U", "pgbouncer", "-d", "pgbouncer", "-c", "SHOW VERSION", "-w"],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertTrue(proc.stdout.startswith("pooler "), proc.stdout)


if __name__ == "__main__":
    h.main()
