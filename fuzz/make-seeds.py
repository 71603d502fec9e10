#!/usr/bin/python3
"""Writes the binary seeds of fuzz/corpus/codec and fuzz/corpus/console_session: real protocol
traffic (startup packets, a psql and a psycopg session, a server's answers), so a reviewer can read
what they are here. Each seed starts with the fuzz target's control byte. Rerun after editing:
  /usr/bin/python3 fuzz/make-seeds.py"""

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def startup(version, **params):
    body = struct.pack("!i", version)
    for name, value in params.items():
        body += name.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def msg(kind, payload=b""):
    return kind.encode() + struct.pack("!i", len(payload) + 4) + payload


def cstr(text):
    return text.encode() + b"\0"


def query(sql):
    return msg("Q", cstr(sql))


def extended(sql, describe=b"P"):
    return (msg("P", cstr("") + cstr(sql) + struct.pack("!h", 0))
            + msg("B", cstr("") + cstr("") + struct.pack("!hhh", 0, 0, 0))
            + msg("D", describe + cstr("")) + msg("E", cstr("") + struct.pack("!i", 0))
            + msg("S"))


def error(severity, code, message):
    return msg("E", b"S" + cstr(severity) + b"V" + cstr(severity) + b"C" + cstr(code)
               + b"M" + cstr(message) + b"\0")


def row_description(*names):
    body = struct.pack("!h", len(names))
    for name in names:
        body += cstr(name) + struct.pack("!ihihih", 0, 0, 25, -1, -1, 0)
    return msg("T", body)


def data_row(*values):
    body = struct.pack("!h", len(values))
    for value in values:
        body += struct.pack("!i", len(value)) + value.encode()
    return msg("D", body)


# Control byte of codec_fuzzer: low nibble 0 = the largest max_packet_size.
CODEC = {
    "startup-3.0": startup(196608, user="app", database="app", application_name="psql"),
    "startup-3.2-pq-option": startup(196610, user="app", database="app",
                                     **{"_pq_.command_marker": "1"}),
    "ssl-request": struct.pack("!ii", 8, 80877103),
    "gssenc-request": struct.pack("!ii", 8, 80877104),
    "cancel-request": struct.pack("!iiii", 16, 80877102, 4242, 99),
    "client-simple-and-extended": query("SELECT 1") + extended("SELECT $1") + msg("X"),
    "server-login-and-result": (msg("R", struct.pack("!i", 0))
                                + msg("S", cstr("server_version") + cstr("15.6"))
                                + msg("K", struct.pack("!ii", 4242, 99)) + msg("Z", b"I")
                                + row_description("?column?") + data_row("1")
                                + msg("C", cstr("SELECT 1")) + msg("Z", b"I")),
    "server-error": error("ERROR", "42601", 'syntax error at or near "SELEC"') + msg("Z", b"E"),
}

# Control byte of console_session_fuzzer: bit 0 admin, bit 1 controls fail, bits 2+ wait polls.
ADMIN, STATS, ADMIN_WAITS_3 = 0x01, 0x00, 0x0D
SESSION = {
    "psql-show": (ADMIN, query("SHOW POOLS;") + query("SHOW HELP") + msg("X")),
    "psycopg-extended": (ADMIN, extended("SHOW VERSION") + extended("SHOW CLIENTS", b"S")),
    "extended-error-then-sync": (ADMIN, extended("NO SUCH COMMAND") + query("SHOW STATE")),
    "pause-waits": (ADMIN_WAITS_3, query("PAUSE app") + query("RESUME app") + extended("PAUSE")),
    "stats-user": (STATS, query("RELOAD") + query("SHOW SOCKETS") + extended("KILL app")),
    "driver-transaction": (ADMIN, query("BEGIN") + query("SHOW POOLS;") + query("COMMIT")
                           + extended("BEGIN ISOLATION LEVEL READ COMMITTED")
                           + extended("ROLLBACK")),
    "unknown-message": (ADMIN, msg("F", b"\0\0") + msg("H") + msg("C", b"S\0") + msg("S")),
    # After an extended-protocol error a Query is ignored too, until Sync.
    "query-while-skipping": (ADMIN, msg("P", b"no terminator") + query("SHOW POOLS") + msg("S")
                             + query("SHOW POOLS")),
}


def write(directory, name, data):
    with open(os.path.join(HERE, "corpus", directory, name), "wb") as f:
        f.write(data)


for name, data in CODEC.items():
    write("codec", name, b"\0" + data)
for name, (control, data) in SESSION.items():
    write("console_session", name, bytes([control]) + data)
