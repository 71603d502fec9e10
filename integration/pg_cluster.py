#!/usr/bin/python3
"""A throwaway PostgreSQL 15 cluster for the integration run: `start` creates and starts it and
writes a state JSON the cases read; `stop` stops it and removes every file it made.

Usage: pg_cluster.py start|stop --state PATH

As a library, start_cluster() / stop_cluster() make and remove an extra cluster with the same
roles, database and pg_hba.conf, optionally with ssl = on (the TLS cases start one of their own;
the CTest fixture's cluster stays plain).
"""

import argparse
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("POOLER_PG_BIN", "/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
DATABASE = "itest"
# Login roles and how PostgreSQL stores their passwords; pg_hba.conf below picks the method.
USERS = {
    "scramuser": "scram-secret-1",  # stored SCRAM, hba md5 -> SCRAM exchange
    "md5user": "md5-secret-2",  # stored md5, hba md5 -> md5 exchange
    "plainuser": "plain-secret-3",  # hba password -> cleartext exchange
    "trustuser": "trust-secret-4",  # hba trust -> no exchange
}
MD5_STORED = {"md5user"}
# A role with the REPLICATION attribute, for replication connections (physical ones match only
# the `replication` hba line; logical ones match as any login to their database).
REPLICATION_USER = ("repluser", "repl-secret-5")

HBA = """\
# written by integration/pg_cluster.py
local all all trust
host all trustuser 127.0.0.1/32 trust
host all plainuser 127.0.0.1/32 password
host all all 127.0.0.1/32 md5
host replication repluser 127.0.0.1/32 md5
"""


def is_root():
    return os.geteuid() == 0


def as_pg_owner(argv):
    """initdb, pg_ctl and postgres refuse to run as root: run them as `postgres` then."""
    return ["runuser", "-u", SUPERUSER, "--"] + argv if is_root() else argv


def run(argv, cwd, timeout=120):
    proc = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}")
    return proc.stdout


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_conf(data_dir, port, socket_dir, log_dir, ssl=None):
    """ssl: {"ssl_cert_file": path, ...} for ssl = on; None leaves it off."""
    with open(os.path.join(data_dir, "postgresql.conf"), "a") as f:
        f.write(f"""
# written by integration/pg_cluster.py
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{socket_dir}'
max_connections = 400
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 128MB
password_encryption = 'scram-sha-256'
logging_collector = on
log_directory = '{log_dir}'
log_filename = 'postgresql.log'
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = on
log_disconnections = on
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
""")
        if ssl:
            f.write("ssl = on\n" + "".join(f"{k} = {sql_literal(v)}\n" for k, v in ssl.items()))
    # `host` lines match TLS and plain TCP logins alike, so an ssl = on cluster admits both.
    with open(os.path.join(data_dir, "pg_hba.conf"), "w") as f:
        f.write(HBA)


def chown_tree(path):
    ent = pwd.getpwnam(SUPERUSER)
    for root, dirs, files in os.walk(path):
        os.chown(root, ent.pw_uid, ent.pw_gid)
        for name in files:
            os.chown(os.path.join(root, name), ent.pw_uid, ent.pw_gid)


def sql_literal(text):
    return "'" + text.replace("'", "''") + "'"


def setup_roles(socket_dir, port):
    import psycopg  # Debian's python3-psycopg; imported late so `stop` works without it

    def conn(dbname):
        return psycopg.connect(host=socket_dir, port=port, user=SUPERUSER, dbname=dbname,
                               autocommit=True, connect_timeout=10)

    with conn("postgres") as c:
        for user, password in USERS.items():
            encryption = "md5" if user in MD5_STORED else "scram-sha-256"
            c.execute(f"SET password_encryption = '{encryption}'")
            c.execute(f"CREATE ROLE {user} LOGIN PASSWORD {sql_literal(password)}")
        repl_user, repl_password = REPLICATION_USER
        c.execute(f"CREATE ROLE {repl_user} LOGIN REPLICATION PASSWORD {sql_literal(repl_password)}")
        c.execute(f"CREATE DATABASE {DATABASE} OWNER scramuser")
        others = ", ".join([u for u in USERS if u != "scramuser"] + [repl_user])
        c.execute(f"GRANT ALL ON DATABASE {DATABASE} TO {others}")
        stored = dict(c.execute("SELECT rolname, rolpassword FROM pg_authid "
                                "WHERE rolname = ANY(%s)", (list(USERS),)).fetchall())
    with conn(DATABASE) as c:
        c.execute(f"GRANT ALL ON SCHEMA public TO {', '.join(USERS)}")
    # The cases rely on how each password is stored; check it rather than trust it.
    for user in USERS:
        want = "md5" if user in MD5_STORED else "SCRAM-SHA-256$"
        if not (stored.get(user) or "").startswith(want):
            raise RuntimeError(f"{user}'s password is stored as {stored.get(user)!r}, want {want}")


def pg_ctl_stop(data_dir, cwd):
    run(as_pg_owner([os.path.join(PG_BIN, "pg_ctl"), "stop", "-D", data_dir, "-m", "fast",
                     "-w", "-t", "60"]), cwd=cwd)


def install_ssl_files(top, sources):
    """Copies certificate and key files into <top>/ssl, owned by the server's user, keys 0600
    (postgres refuses a key others can read); returns the directory."""
    ssl_dir = os.path.join(top, "ssl")
    os.makedirs(ssl_dir, exist_ok=True)
    os.chmod(ssl_dir, 0o755)
    for source in sources:
        dest = os.path.join(ssl_dir, os.path.basename(source))
        shutil.copyfile(source, dest)
        os.chmod(dest, 0o600 if dest.endswith(".key") else 0o644)
    if is_root():
        chown_tree(ssl_dir)
    return ssl_dir


def start_cluster(ssl_files=(), ssl_cert="server.crt", ssl_key="server.key", ssl_ca="ca.crt"):
    """Creates and starts a cluster; returns its state (as the JSON holds). With ssl_files (paths
    to copy into <dir>/ssl) it runs with ssl = on and ssl_cert/ssl_key/ssl_ca, names among them
    (ssl_ca may be None); state["ssl_dir"] is then where they are."""
    top = tempfile.mkdtemp(prefix="pooler-itest-pg-", dir="/tmp")
    os.chmod(top, 0o755)
    data_dir = os.path.join(top, "data")
    ssl = None
    try:
        if ssl_files:
            ssl_dir = install_ssl_files(top, ssl_files)
            ssl = {"ssl_cert_file": os.path.join(ssl_dir, ssl_cert),
                   "ssl_key_file": os.path.join(ssl_dir, ssl_key)}
            if ssl_ca:
                ssl["ssl_ca_file"] = os.path.join(ssl_dir, ssl_ca)
        if is_root():
            chown_tree(top)
        run(as_pg_owner([os.path.join(PG_BIN, "initdb"), "-D", data_dir, "-U", SUPERUSER,
                         "--auth-local=trust", "--auth-host=md5", "-E", "UTF8", "--no-locale",
                         "--no-sync"]), cwd=top)
        last_error = None
        for _ in range(5):  # a free port can be taken between the probe and postgres' bind
            port = free_port()
            write_conf(data_dir, port, top, top, ssl)
            try:
                run(as_pg_owner([os.path.join(PG_BIN, "pg_ctl"), "start", "-D", data_dir, "-w",
                                 "-t", "60", "-l", os.path.join(top, "pg_ctl.log")]), cwd=top)
                break
            except RuntimeError as e:
                last_error = e
                time.sleep(0.2)
        else:
            raise RuntimeError(f"postgres did not start: {last_error}\n{read_logs(top)}")
        setup_roles(top, port)
    except BaseException:
        try:
            pg_ctl_stop(data_dir, top)
        except Exception:
            pass
        print(read_logs(top), file=sys.stderr)
        shutil.rmtree(top, ignore_errors=True)
        raise
    state = {
        "port": port,
        "host": "127.0.0.1",
        "socket_dir": top,
        "data_dir": data_dir,
        "dir": top,
        "pg_bin": PG_BIN,
        "superuser": SUPERUSER,
        "users": USERS,
        "md5_stored": sorted(MD5_STORED),
        "replication_user": list(REPLICATION_USER),
        "database": DATABASE,
    }
    if ssl:
        state["ssl_dir"] = os.path.dirname(ssl["ssl_cert_file"])
        state["ssl"] = ssl
    return state


def start(state_path):
    if os.path.exists(state_path):
        # A previous run died before its cleanup: do not leak its cluster.
        print(f"stopping the cluster left behind in {state_path}")
        try:
            stop(state_path)
        except Exception as e:  # noqa: BLE001 - a dead leftover must not block a new run
            print(f"could not stop it cleanly: {e}", file=sys.stderr)
            os.remove(state_path)
    state = start_cluster()
    top, port = state["dir"], state["port"]
    os.makedirs(os.path.dirname(os.path.abspath(state_path)), exist_ok=True)
    tmp = state_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2)
    os.replace(tmp, state_path)
    print(f"PostgreSQL started on 127.0.0.1:{port}, socket dir {top}, state {state_path}")


def read_logs(top):
    out = []
    for name in ("pg_ctl.log", "postgresql.log"):
        path = os.path.join(top, name)
        if os.path.exists(path):
            with open(path, errors="replace") as f:
                out.append(f"--- {name}\n{f.read()[-8000:]}")
    return "\n".join(out)


def stop_cluster(state):
    """Stops a cluster start_cluster() made and removes its files (even if the stop failed,
    which is raised afterwards)."""
    top = state["dir"]
    error = None
    if os.path.isdir(state["data_dir"]):
        try:
            pg_ctl_stop(state["data_dir"], top)
        except RuntimeError as e:
            error = e  # still remove the files; report afterwards
    shutil.rmtree(top, ignore_errors=True)
    if error:
        raise error


def stop(state_path):
    with open(state_path) as f:
        state = json.load(f)
    try:
        stop_cluster(state)
    finally:
        os.remove(state_path)
    print(f"PostgreSQL on port {state['port']} stopped, {state['dir']} removed")


class ExtraCluster:
    """start_cluster() for one test process: stop() removes it, and so does a watcher process
    once this one dies without calling it (the watchdog's exit, a kill), so no cluster leaks."""

    def __init__(self, **kwargs):
        self.state = start_cluster(**kwargs)
        fd, self.state_path = tempfile.mkstemp(prefix="pooler-itest-pg-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(self.state, f)
        # The watcher holds the read end of a pipe only this process writes to: EOF means this
        # process is gone (or stop() is done, and the state file with it).
        self.watcher = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "stop-at-eof", "--state",
             self.state_path], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        try:
            if os.path.exists(self.state_path):
                stop(self.state_path)
        finally:
            self.watcher.stdin.close()
            self.watcher.wait(timeout=120)


def stop_at_eof(state_path):
    sys.stdin.buffer.read()
    if os.path.exists(state_path):
        stop(state_path)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "stop-at-eof"])
    parser.add_argument("--state", required=True, help="path of the state JSON")
    args = parser.parse_args()
    {"start": start, "stop": stop, "stop-at-eof": stop_at_eof}[args.action](args.state)


if __name__ == "__main__":
    main()
