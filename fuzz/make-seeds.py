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

# prepared_fuzzer's script: the first byte picks max_prepared_statements (0, 1, 2, 5); then ops,
# each followed by its argument bytes (fuzz/prepared_fuzzer.cpp): names a b "" S_1 zz, queries
# "SELECT 1" "SELECT 2" "SELECT fail" "SELECT $1".
PARSE, BIND, DESCRIBE_S, EXECUTE, SYNC, FLUSH, CLOSE_S, QUERY = 0, 1, 2, 4, 5, 6, 7, 9
DELIVER, SWITCH_CLIENT, NEW_SERVER, PIPELINE = 10, 11, 12, 15
CAP_1, CAP_2, CAP_5 = 1, 2, 3
PREPARED = {
    # Two clients, the same name for different queries, on one server.
    "two-clients-same-name": [CAP_5, PARSE, 0, 0, BIND, 0, EXECUTE, SYNC, SWITCH_CLIENT,
                              PARSE, 0, 1, BIND, 0, EXECUTE, SYNC, DELIVER],
    # A repeated Parse answered by the pooler, then a move to a server that lacks it.
    "reparse-and-new-server": [CAP_5, PIPELINE, 0, 0, SYNC, SWITCH_CLIENT, PIPELINE, 1, 0, SYNC,
                               NEW_SERVER, BIND, 1, DESCRIBE_S, 1, EXECUTE, SYNC],
    # Eviction under max_prepared_statements = 2.
    "lru-evicts": [CAP_2, PIPELINE, 0, 0, SYNC, PIPELINE, 1, 1, SYNC, PIPELINE, 3, 3, SYNC,
                   BIND, 0, EXECUTE, SYNC, DELIVER],
    # An error in a pipeline, Flush without Sync, then Sync.
    "error-in-pipeline": [CAP_1, PIPELINE, 0, 0, FLUSH, DELIVER, PARSE, 1, 2, BIND, 1,
                          PARSE, 0, 0, CLOSE_S, 0, FLUSH, DELIVER, SYNC],
    "deallocate-discard": [CAP_5, PIPELINE, 0, 0, SYNC, QUERY, 1, BIND, 0, SYNC, PIPELINE, 1, 1,
                           QUERY, 3, QUERY, 2, SYNC, DELIVER],
}


def write(directory, name, data):
    with open(os.path.join(HERE, "corpus", directory, name), "wb") as f:
        f.write(data)


for name, data in CODEC.items():
    write("codec", name, b"\0" + data)
for name, (control, data) in SESSION.items():
    write("console_session", name, bytes([control]) + data)
for name, script in PREPARED.items():
    write("prepared", name, bytes(script))
