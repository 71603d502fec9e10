#!/usr/bin/python3
"""systemd's notify protocol (systemd/pooler.service is Type=notify): with NOTIFY_SOCKET set, the
pooler sends READY=1 once it serves, RELOADING=1 then READY=1 around a SIGHUP reload (a failed
reload too, or systemd would wait in "reloading" until its timeout), and STOPPING=1 when it shuts
down. The test binds the datagram socket systemd would, and checks that the sender is the main
process, as systemd's NotifyAccess=main does. SIGQUIT (immediate shutdown) is used to stop:
SIGTERM's wait-for-clients shutdown is test_shutdown's subject."""

import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import unittest
from unittest import mock

import harness as h
from harness import Pooler

TIMEOUT = 10.0
UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


class NotifySocket:
    """A unix datagram socket standing in for systemd's; SO_PASSCRED has the kernel attach the
    sender's pid to every message."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="pooler-notify-")
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(self.path)
        self.log = []  # every (pid, fields) received, for failure messages
        return self

    def __exit__(self, *exc):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def receive(self, timeout):
        """One message: (sender pid, its newline-separated fields)."""
        self.sock.settimeout(timeout)
        data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(UCRED.size))
        pid = None
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = UCRED.unpack(payload[:UCRED.size])[0]
        fields = [f for f in data.decode(errors="replace").split("\n") if f]
        self.log.append((pid, fields))
        return pid, fields

    def wait_for(self, test, field, sender):
        """Reads messages until one has `field` as one of its lines (other fields, such as a
        MONOTONIC_USEC next to RELOADING=1, may come with it); returns the fields of the messages
        before it. Fails on a timeout or a sender other than `sender`."""
        before = []
        while True:
            try:
                pid, fields = self.receive(TIMEOUT)
            except socket.timeout:
                test.fail(f"no {field} within {TIMEOUT} s; received {self.log}")
            test.assertEqual(pid, sender, f"{fields} came from pid {pid}, not the main process")
            if field in fields:
                return before
            before.append(fields)


@contextlib.contextmanager
def notifying_pooler(notify, settings=None):
    """A Pooler started with NOTIFY_SOCKET pointing at `notify`, as systemd starts it. The
    variable stays set for the block; the clients it runs ignore it."""
    with mock.patch.dict(os.environ, {"NOTIFY_SOCKET": notify.path}), Pooler(settings) as pooler:
        yield pooler


def flat(messages):
    return [field for fields in messages for field in fields]


class Service(unittest.TestCase):
    def quit(self, pooler, notify):
        """SIGQUIT: STOPPING=1 and a clean exit."""
        os.kill(pooler.pid, signal.SIGQUIT)
        notify.wait_for(self, "STOPPING=1", pooler.pid)
        try:
            code = pooler.proc.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.fail(f"still running {TIMEOUT} s after SIGQUIT")
        self.assertEqual(code, 0, h.describe_exit(code))
        # Tells the harness the exit was asked for; it sends nothing to an exited process.
        pooler.terminate(0)

    def test_ready_reload_stopping(self):
        with NotifySocket() as notify, notifying_pooler(notify) as pooler:
            # READY=1 also means the signal handlers are in place: a SIGHUP before them would
            # kill the process.
            before = notify.wait_for(self, "READY=1", pooler.pid)
            self.assertNotIn("STOPPING=1", flat(before))

            os.kill(pooler.pid, signal.SIGHUP)
            before = notify.wait_for(self, "RELOADING=1", pooler.pid)
            self.assertNotIn("READY=1", flat(before), "READY=1 before the reload began")
            notify.wait_for(self, "READY=1", pooler.pid)
            pooler.assert_healthy(self)

            self.quit(pooler, notify)

    def test_failed_reload_still_ends_in_ready(self):
        with NotifySocket() as notify, notifying_pooler(notify) as pooler:
            notify.wait_for(self, "READY=1", pooler.pid)
            with open(pooler.ini) as f:
                text = f.read()
            with open(pooler.ini, "w") as f:
                f.write(text.replace("[pooler]\n", "[pooler]\npool_mode = nonsense\n", 1))
            check = subprocess.run([h.pooler_bin(), "--check", pooler.ini],
                                   capture_output=True, text=True, timeout=30)
            self.assertNotEqual(check.returncode, 0, f"the broken ini passes --check:\n"
                                                     f"{check.stdout}")

            os.kill(pooler.pid, signal.SIGHUP)
            notify.wait_for(self, "RELOADING=1", pooler.pid)
            notify.wait_for(self, "READY=1", pooler.pid)
            # The running configuration is kept.
            pooler.assert_healthy(self)

            self.quit(pooler, notify)


if __name__ == "__main__":
    h.main()
