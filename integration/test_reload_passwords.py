#!/usr/bin/python3
"""A server password changed in the config takes effect on RELOAD, as in PgBouncer: the role's
password is changed on PostgreSQL, then in the [databases] entry (a forced user's password=) or
in auth_file, and the pooler reloads. A session in progress keeps the server it logged in with;
once that server is released it is closed, and the next client gets a server logged in with the
new password (the old one would now be refused by PostgreSQL, so a new server at all proves it).
"""

import unittest

import harness as h
from harness import Pooler

ADMIN = "scramuser"
SETTINGS = {"pool_mode": "session", "default_pool_size": 1, "admin_users": ADMIN,
            "query_wait_timeout": 30}
OLD, NEW = "old-secret-1", "new-secret-2"


def db_line(db, **options):
    return f"host={h.HOST} port={h.pg_port()} dbname={db}" + "".join(
        f" {k}={v}" for k, v in options.items())


class ServerPasswordReload(unittest.TestCase):
    def setUp(self):
        self.role = h.unique_name("pwrole")
        with h.superuser_conn("postgres") as c:
            c.execute(f"CREATE ROLE {self.role} LOGIN PASSWORD '{OLD}'")
        self.addCleanup(self.drop_role)
        h.arm_case_alarm(self, 120)

    def drop_role(self):
        with h.superuser_conn("postgres") as c:
            c.execute(f"DROP ROLE IF EXISTS {self.role}")

    def change_password_on_postgres(self):
        with h.superuser_conn("postgres") as c:
            c.execute(f"ALTER ROLE {self.role} PASSWORD '{NEW}'")

    def reload(self, pooler):
        pooler.write_config()
        with pooler.connect(ADMIN, dbname="pgbouncer") as admin:
            admin.execute("RELOAD")

    def backend_pids(self):
        return {row[0] for row in h.backends(user=self.role)}

    def check_switch(self, pooler, change_config, login):
        """login(password) -> a connection through the pooler; change_config() rewrites the
        pooler's view of the password."""
        with login(OLD) as old:
            old_pid, user = old.execute("SELECT pg_backend_pid(), current_user").fetchone()
            self.assertEqual(user, self.role)
            self.change_password_on_postgres()
            change_config()
            self.reload(pooler)
            self.assertEqual(old.execute("SELECT pg_backend_pid()").fetchone()[0], old_pid,
                             "the session in progress lost its server at RELOAD")
        h.wait_until(lambda: old_pid not in self.backend_pids(), timeout=10,
                     message="the server logged in with the old password to be closed")
        with login(NEW) as new:
            new_pid, user = new.execute("SELECT pg_backend_pid(), current_user").fetchone()
        self.assertEqual(user, self.role)
        self.assertNotEqual(new_pid, old_pid)
        pooler.assert_healthy(self)

    def test_forced_users_password_in_the_database_entry(self):
        db = h.state()["database"]
        databases = {db: db_line(db, user=self.role, password=OLD)}
        with Pooler(SETTINGS, databases=databases) as pooler:
            def change():
                pooler.databases = {db: db_line(db, user=self.role, password=NEW)}

            # Clients log in as scramuser (auth_file); the server as the forced user.
            self.check_switch(pooler, change, lambda _: pooler.connect("scramuser", dbname=db))

    def test_users_password_in_auth_file(self):
        users = [(u, p) for u, p in h.state()["users"].items()]
        with Pooler(SETTINGS, users=users + [(self.role, OLD)]) as pooler:
            def change():
                pooler.users = users + [(self.role, NEW)]

            self.check_switch(pooler, change,
                              lambda password: pooler.connect(self.role, password=password))


if __name__ == "__main__":
    h.main()
