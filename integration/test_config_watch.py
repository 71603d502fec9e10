#!/usr/bin/python3
"""config_watch = 1: the pooler reloads by itself when its files change on disk. The files are
laid out as the kubelet mounts a ConfigMap: pooler.ini and userlist.txt are symlinks into
`..data`, itself a symlink to a timestamped directory, and an update writes a new directory and
swaps `..data` in one rename. A bigger pool applied that way under pgbench fails no transaction;
a broken edit keeps the running config; an auth_file change admits a new user; each swap is one
reload, logged as RELOAD logs it."""

import os
import sys
import threading
import time

import psycopg

import harness as h
from harness import Pooler

ADMIN = "scramuser"


class KubeletMount:
    """The pooler's directory turned into a ConfigMap mount: each `publish` writes the given
    files into a fresh ..<n> directory and swaps ..data to it atomically."""

    def __init__(self, pooler):
        self.dir = pooler.dir
        self.n = 0

    def publish(self, files):
        self.n += 1
        version = f"..2026_12_03_{self.n:04d}"
        os.mkdir(os.path.join(self.dir, version))
        for name, text in files.items():
            with open(os.path.join(self.dir, version, name), "w", encoding="utf-8") as f:
                f.write(text)
        tmp = os.path.join(self.dir, "..data_tmp")
        os.symlink(version, tmp)
        os.rename(tmp, os.path.join(self.dir, "..data"))
        for name in files:
            link = os.path.join(self.dir, name)
            if not os.path.islink(link):
                tmp_link = link + ".tmp"
                os.symlink(os.path.join("..data", name), tmp_link)
                os.rename(tmp_link, link)


def reloads(pooler):
    return pooler.log().count("configuration reloaded")


def show_config(pooler):
    with pooler.connect(ADMIN, dbname="pgbouncer") as admin:
        return {row[0]: row[1] for row in admin.execute("SHOW CONFIG").fetchall()}


class ConfigWatch(h.PgbenchDatabaseCase):
    db_prefix = "watch"

    def setUp(self):
        h.arm_case_alarm(self, 150)

    def pooler(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 2, "config_watch": 1,
                    "admin_users": ADMIN, "query_wait_timeout": 60}
        return Pooler(settings, databases={
            self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"})

    def files(self, pooler, settings=None, users=None):
        """The ini and userlist.txt as the harness would write them, with changes."""
        pooler.settings.update(settings or {})
        if users is not None:
            pooler.users = users
        # Rendered aside: the live names are symlinks into the mount, which stays read-only.
        live = pooler.ini, pooler.auth_file
        scratch = os.path.join(pooler.dir, "render")
        os.makedirs(scratch, exist_ok=True)
        pooler.ini = os.path.join(scratch, "pooler.ini")
        pooler.auth_file = os.path.join(scratch, "userlist.txt")
        try:
            pooler.write_config()
            with open(pooler.auth_file, encoding="utf-8") as f:
                userlist = f.read()
        finally:
            pooler.ini, pooler.auth_file = live
        # The ini names the live userlist.txt, not the scratch copy.
        ini = pooler.ini_text.replace(os.path.join(scratch, "userlist.txt"), live[1])
        return {"pooler.ini": ini, "userlist.txt": userlist}

    def swap(self, mount, pooler, files, what):
        before = reloads(pooler)
        mark = len(pooler.log())
        mount.publish(files)
        h.wait_until(lambda: "config_watch:" in pooler.log()[mark:], timeout=10,
                     message=f"config_watch to notice {what}")
        time.sleep(1.5)  # time for a second, unwanted reload to show
        return before, pooler.log()[mark:]

    def mounted(self, pooler):
        """Turns the pooler's files into a kubelet mount; the first swap is noticed too."""
        mount = KubeletMount(pooler)
        before, log = self.swap(mount, pooler, self.files(pooler), "the mount itself")
        self.assertIn("configuration reloaded", log)
        return mount

    def test_a_swapped_configmap_grows_the_pool_under_pgbench_without_a_failure(self):
        with self.pooler() as pooler:
            mount = self.mounted(pooler)
            result = {}
            bench = threading.Thread(target=lambda: result.update(proc=pooler.pgbench(
                "-c", "6", "-T", "8", "-n", dbname=self.db, timeout=60)), daemon=True)
            bench.start()
            time.sleep(2)
            before, log = self.swap(mount, pooler, self.files(pooler, {"default_pool_size": 6}),
                                    "default_pool_size = 6")
            self.assertEqual(reloads(pooler), before + 1, f"one swap, not one reload:\n{log}")
            self.assertEqual(show_config(pooler)["default_pool_size"], "6")
            bench.join(timeout=60)
            processed, failed = h.pgbench_counts(self, result["proc"])
            print(f"\n  pgbench through a ConfigMap swap: {processed} transactions, {failed} "
                  "failed", file=sys.stderr)
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0)

    def test_a_broken_edit_keeps_the_running_config(self):
        with self.pooler() as pooler:
            mount = self.mounted(pooler)
            files = self.files(pooler)
            files["pooler.ini"] = files["pooler.ini"].replace(
                "default_pool_size = 2", "default_pool_size = lots")
            before, log = self.swap(mount, pooler, files, "the broken ini")
            self.assertIn("reload failed: configuration has errors", log)
            self.assertEqual(reloads(pooler), before)
            self.assertEqual(show_config(pooler)["default_pool_size"], "2")
            with pooler.connect(dbname=self.db) as conn:
                self.assertEqual(conn.execute("SELECT 42").fetchone()[0], 42)
            # Fixed again: taken.
            self.swap(mount, pooler, self.files(pooler, {"default_pool_size": 3}), "the fix")
            self.assertEqual(show_config(pooler)["default_pool_size"], "3")

    def test_an_auth_file_change_admits_a_new_user(self):
        role = h.unique_name("watchrole")
        with h.superuser_conn("postgres") as c:
            c.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'watch-secret'")
        try:
            with self.pooler() as pooler:
                mount = self.mounted(pooler)
                with self.assertRaises(psycopg.OperationalError):
                    pooler.connect(role, password="watch-secret", dbname=self.db).close()
                users = list(h.state()["users"].items()) + [(role, "watch-secret")]
                self.swap(mount, pooler, self.files(pooler, users=users), "the new userlist")
                with pooler.connect(role, password="watch-secret", dbname=self.db) as conn:
                    self.assertEqual(conn.execute("SELECT current_user").fetchone()[0], role)
        finally:
            with h.superuser_conn("postgres") as c:
                c.execute(f"DROP ROLE IF EXISTS {role}")


if __name__ == "__main__":
    h.main()
