"""A TCP relay between the pooler and the real PostgreSQL that holds CancelRequest connections
open for a while after PostgreSQL has closed them, as a slow network would. It lets a case see
what the pooler does while a cancel is still in flight; everything else is relayed unchanged."""

import socket
import struct
import threading
import time

import harness as h


class CancelDelayProxy:
    """Listens on a free port of 127.0.0.1 and relays to PostgreSQL on `upstream_port`. A
    connection whose first packet is a CancelRequest is passed on, then kept open `hold` s after
    PostgreSQL closed its side. .cancels counts the cancel requests seen."""

    def __init__(self, upstream_port, hold):
        self.upstream_port, self.hold = upstream_port, hold
        self.cancels = 0
        self._listener = socket.create_server((h.HOST, 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._listener.close()
        return False

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            head = h.recv_exact(client, 8)
            length, code = struct.unpack("!ii", head)
            upstream = socket.create_connection((h.HOST, self.upstream_port), timeout=30)
            upstream.settimeout(None)
            if length == 16 and code == h.CANCEL_REQUEST_CODE:
                self.cancels += 1
                upstream.sendall(head + h.recv_exact(client, 8))
                while upstream.recv(4096):
                    pass
                upstream.close()
                time.sleep(self.hold)
                client.close()
                return
            upstream.sendall(head)
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
            pump(client, upstream)
        except OSError:
            client.close()


def pump(source, sink):
    """Copies source to sink until either side closes, then shuts both down."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
