#!/usr/bin/python3
"""Logging as PgBouncer does it: lines go to stderr and to the log file alike, with PgBouncer's
level words; -q silences stderr and only stderr; verbose changes the level live (SET verbose on
the console, and RELOAD); a reload reopens a rotated log file; syslog = 1 sends LOG and graver
lines to syslog with syslog_ident and syslog_facility.

syslog(3) always writes to /dev/log. The syslog case runs the pooler in a private mount
namespace (unshare -m, as root) whose /dev is a copy of the real one plus a `log` that points at
a datagram socket the test reads, so the host's /dev is never touched. Where unshare is not
allowed the case is skipped and says why."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness as h
from harness import Pooler

ADMIN = "scramuser"
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d\d:?\d\d \[(\d+)\] "
                  r"(LOG|WARNING|ERROR|FATAL|DEBUG|NOISE) ")


def console(pooler):
    return pooler.connect(ADMIN, dbname="pgbouncer")


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def one_query(pooler):
    with pooler.connect() as conn:
        conn.execute("SELECT 1").fetchone()


class StderrAndFile(unittest.TestCase):
    def test_without_q_every_line_goes_to_stderr_and_the_file_in_pgbouncer_shape(self):
        with Pooler({"admin_users": ADMIN}) as pooler:
            one_query(pooler)
            h.wait_until(lambda: "login attempt" in read(pooler.logfile))
            file_lines = read(pooler.logfile).splitlines()
            err_lines = pooler.output().splitlines()
            self.assertTrue(file_lines)
            for line in file_lines:
                self.assertRegex(line, LINE)
                self.assertEqual(int(LINE.match(line).group(1)), pooler.pid)
            self.assertTrue(any(" LOG " in line and "login attempt" in line
                                for line in file_lines), file_lines)
            h.wait_until(lambda: "login attempt" in pooler.output())
            self.assertEqual(
                [line for line in file_lines if "login attempt" in line],
                [line for line in pooler.output().splitlines() if "login attempt" in line])
            self.assertTrue(err_lines)

    def test_q_silences_stderr_only_and_the_file_keeps_the_verbosity(self):
        with Pooler({"admin_users": ADMIN, "verbose": 1}, args=["-q"]) as pooler:
            one_query(pooler)
            h.wait_until(lambda: "assigned server" in read(pooler.logfile),
                         message="a DEBUG line in the log file under -q")
            self.assertRegex(read(pooler.logfile), r"\] DEBUG C-0x[0-9a-f]+: .*assigned server")
            self.assertEqual(pooler.output(), "")

    def test_warnings_about_the_config_reach_the_log_file(self):
        with Pooler({"admin_users": ADMIN}, extra_ini="listen_prot = 1\n", args=["-q"]) as pooler:
            self.assertRegex(read(pooler.logfile),
                             r"\] WARNING .*listen_prot: unknown setting; ignored")
            self.assertEqual(pooler.output(), "")


class LiveChanges(unittest.TestCase):
    def test_set_verbose_changes_the_level_at_once_and_back(self):
        with Pooler({"admin_users": ADMIN}) as pooler:
            one_query(pooler)
            time.sleep(0.2)
            self.assertNotIn("assigned server", read(pooler.logfile))
            with console(pooler) as admin:
                admin.execute("SET verbose = 1")
                one_query(pooler)
                h.wait_until(lambda: "assigned server" in read(pooler.logfile),
                             message="a DEBUG line after SET verbose = 1")
                admin.execute("SET verbose = 0")
                mark = read(pooler.logfile).count("assigned server")
                one_query(pooler)
                time.sleep(0.2)
                self.assertEqual(read(pooler.logfile).count("assigned server"), mark)

    def test_reload_applies_verbose_and_reopens_a_rotated_log_file(self):
        with Pooler({"admin_users": ADMIN}) as pooler:
            rotated = pooler.logfile + ".1"
            os.rename(pooler.logfile, rotated)
            text = read(pooler.ini).replace("[pooler]\n", "[pooler]\nverbose = 1\n", 1)
            with open(pooler.ini, "w") as f:
                f.write(text)
            pooler.send_signal(signal.SIGHUP)
            h.wait_until(lambda: os.path.exists(pooler.logfile),
                         message="the log file reopened after SIGHUP")
            one_query(pooler)
            h.wait_until(lambda: "assigned server" in read(pooler.logfile),
                         message="a DEBUG line in the new file after the reload")
            self.assertIn("configuration reloaded", read(rotated) + read(pooler.logfile))
            self.assertNotIn("assigned server", read(rotated))


def namespace_launcher(work, log_socket):
    """argv that runs its arguments with /dev/log pointing at log_socket, in a private mount
    namespace; None (and why) when this machine does not allow it."""
    if shutil.which("unshare") is None:
        return None, "unshare is not installed"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"unshare -m is not allowed here: {probe.stderr.strip()}"
    real, dev = os.path.join(work, "real-dev"), os.path.join(work, "dev")
    os.mkdir(real)
    os.mkdir(dev)
    script = ('set -e; mount --bind /dev "$1"; '
              'for f in "$1"/* "$1"/.[!.]*; do if [ -e "$f" ]; then ln -s "$f" "$2"/; fi; done; '
              'ln -s "$3" "$2"/log; mount --bind "$2" /dev; shift 3; exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", real, dev,
            log_socket], None


class Syslog(unittest.TestCase):
    def test_syslog_gets_log_lines_with_ident_and_facility_but_not_debug(self):
        work = tempfile.mkdtemp(prefix="pooler-syslog-")
        try:
            log_socket = os.path.join(work, "log.sock")
            receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            receiver.bind(log_socket)
            os.chmod(log_socket, 0o666)
            receiver.settimeout(10)
            launcher, why = namespace_launcher(work, log_socket)
            if launcher is None:
                self.skipTest(why)
            settings = {"admin_users": ADMIN, "syslog": 1, "syslog_ident": "pooler-itest",
                        "verbose": 1}
            extra = "syslog_facility = LOG_LOCAL0   ; as in syslog.conf\n"
            with Pooler(settings, extra_ini=extra, launcher=launcher) as pooler:
                one_query(pooler)
                h.wait_until(lambda: "assigned server" in read(pooler.logfile))
                messages = []
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not any("login attempt" in m
                                                               for m in messages):
                    messages.append(receiver.recv(65536).decode(errors="replace"))
                # <PRI>timestamp ident[pid]: message; PRI = facility * 8 + severity.
                local0_info = (16 << 3) | 6
                pattern = re.compile(rf"^<{local0_info}>.*pooler-itest\[{pooler.pid}\]: ")
                logins = [m for m in messages if "login attempt" in m]
                self.assertTrue(logins, messages)
                self.assertRegex(logins[0], pattern)
                # The message alone: no second timestamp or level word inside.
                self.assertNotRegex(logins[0], r"\] LOG ")
                receiver.settimeout(0.5)
                try:
                    while True:
                        messages.append(receiver.recv(65536).decode(errors="replace"))
                except socket.timeout:
                    pass
                # verbose = 1 puts DEBUG lines in the file, never in syslog (PgBouncer's rule).
                self.assertFalse([m for m in messages if "assigned server" in m], messages)
                self.assertIn("assigned server", read(pooler.logfile))
            receiver.close()
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    h.main()
