#!/usr/bin/python3
"""Config files as people write them: a pgbouncer.ini copied from a wiki, with comments after
typed values (in [pooler] and on a [databases] line), PostgreSQL's tcp_keepalives_idle and
syslog.conf's LOG_LOCAL0, starts the real pooler; SHOW CONFIG, SHOW POOLS and SHOW DATABASES
show the values took effect (the comments are gone), the transaction pool mode shows in
behaviour, the warnings name the right keys, and queries are served. Free text keeps a ' ;' as
written, with a warning."""

import subprocess
import threading
import unittest

import harness as h
from harness import Pooler

ADMIN = "scramuser"

# As a wiki page writes it: aligned comments, both comment characters, a tab.
WIKI_INI = """\
; ---- copied from the wiki ----
pool_mode = transaction   ; transaction, session, or statement
max_client_conn = 50      # the wiki says 100
default_pool_size = 1\t; one server: transaction mode must share it
query_wait_timeout = 20   ; seconds
server_round_robin = yes  # spread the load
tcp_keepalives_idle = 42  ; PostgreSQL's spelling
syslog_facility = LOG_LOCAL0
admin_users = {admin}   ; may RELOAD
server_check_query = select 1 ; select 2
listen_prot = 1
"""


def console(pooler):
    return pooler.connect(ADMIN, dbname="pgbouncer")




class WikiConfig(unittest.TestCase):
    def start(self):
        db = h.state()["database"]
        databases = {db: f"host={h.HOST} port={h.pg_port()} dbname={db} pool_size=1"
                         "   ; the test database"}
        return Pooler(databases=databases, extra_ini=WIKI_INI.format(admin=ADMIN))

    def test_comments_after_values_are_ignored_and_the_values_take_effect(self):
        with self.start() as pooler:
            with console(pooler) as admin:
                config = {row["key"]: row["value"] for row in h.show(admin, "CONFIG")[1]}
                self.assertEqual(config["pool_mode"], "transaction")
                self.assertEqual(config["max_client_conn"], "50")
                self.assertEqual(config["default_pool_size"], "1")
                self.assertEqual(config["query_wait_timeout"], "20")
                self.assertEqual(config["server_round_robin"], "1")
                self.assertEqual(config["tcp_keepidle"], "42")
                self.assertEqual(config["syslog_facility"], "local0")
                self.assertEqual(config["admin_users"], ADMIN)
                # Free text: kept as written, comment and all.
                self.assertEqual(config["server_check_query"], "select 1 ; select 2")
                with pooler.connect() as conn:
                    self.assertEqual(conn.execute("SELECT 40 + 2").fetchone()[0], 42)
                    pools = [r for r in h.show(admin, "POOLS")[1] if r["database"] == "itest"]
                    self.assertEqual([r["pool_mode"] for r in pools], ["transaction"])
                databases = {r["name"]: r for r in h.show(admin, "DATABASES")[1]}
                self.assertEqual(databases["itest"]["pool_size"], 1)
                self.assertEqual(databases["itest"]["database"], "itest")

    def test_transaction_mode_lets_two_clients_share_one_server(self):
        # With pool_size=1, session mode would keep the second client waiting until the first
        # disconnects (query_wait_timeout is 20 s); transaction mode hands the server over at
        # each transaction's end.
        with self.start() as pooler:
            with pooler.connect() as first, pooler.connect() as second:
                pid_first = first.execute("SELECT pg_backend_pid()").fetchone()[0]
                done = threading.Event()
                result = {}

                def query_second():
                    result["pid"] = second.execute("SELECT pg_backend_pid()").fetchone()[0]
                    done.set()

                worker = threading.Thread(target=query_second, daemon=True)
                worker.start()
                self.assertTrue(done.wait(10), "the second client waited: not transaction mode")
                worker.join()
                self.assertEqual(result["pid"], pid_first)
                self.assertEqual(first.execute("SELECT 1").fetchone()[0], 1)

    def test_warnings_name_the_keys(self):
        with self.start() as pooler:
            log = pooler.log()
            self.assertIn('tcp_keepalives_idle: PostgreSQL\'s name for a pooler setting; applied '
                          'as "tcp_keepidle"', log)
            self.assertIn('listen_prot: unknown setting; ignored; did you mean "listen_port"?',
                          log)
            self.assertIn("server_check_query: ';' after a blank is kept as part of this text "
                          "value", log)
            self.assertRegex(log, r"\] WARNING \S+pooler.ini:\d+: warning: tcp_keepalives_idle")
            # Only those three: the typed values' comments raised nothing.
            self.assertEqual(log.count(": warning: "), 3, log)

    def test_check_calls_the_wiki_file_valid_and_names_the_typo(self):
        with self.start() as pooler:
            proc = subprocess.run([h.pooler_bin(), "--check", pooler.ini], capture_output=True,
                                    text=True, timeout=30)
            self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
            self.assertIn("configuration is valid", proc.stdout)
            self.assertIn('did you mean "listen_port"?', proc.stdout)


if __name__ == "__main__":
    h.main()
