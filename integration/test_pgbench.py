#!/usr/bin/python3
"""pgbench through the pooler: 50 clients on a transaction pool of 5 finish without a failed
transaction while PostgreSQL never sees more than 5 backends; the extended and prepared query
protocols work in session mode."""

import sys

import harness as h
from harness import Pooler


class PgBench(h.PgbenchDatabaseCase):
    db_prefix = "pgbench"

    def databases(self):
        return {self.db: f"host={h.HOST} port={h.pg_port()} dbname={self.db}"}

    def test_50_clients_on_a_transaction_pool_of_5(self):
        settings = {"pool_mode": "transaction", "default_pool_size": 5, "max_client_conn": 100,
                    "query_wait_timeout": 60}
        with Pooler(settings, databases=self.databases()) as pooler:
            with h.superuser_conn("postgres") as monitor:
                def backends():
                    return monitor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                        "AND usename = 'scramuser' AND backend_type = 'client backend'",
                        (self.db,)).fetchone()[0]

                with h.Sampler(backends, interval=0.05) as sampler:
                    proc = pooler.pgbench("-c", "50", "-j", "2", "-T", "10", dbname=self.db,
                                          timeout=120)
                sampler.check()
            processed, failed = h.pgbench_counts(self, proc)
            print(f"\n  {processed} transactions, {failed} failed; at most {max(sampler.values)} "
                  f"backends in {len(sampler.values)} samples", file=sys.stderr)
            self.assertGreater(processed, 0)
            self.assertEqual(failed, 0)
            self.assertGreater(max(sampler.values), 0, "the monitor never saw the pool")
            self.assertLessEqual(max(sampler.values), 5,
                                 f"PostgreSQL saw {max(sampler.values)} backends for a pool of "
                                 f"5 ({len(sampler.values)} samples)")

    def test_extended_and_prepared_protocols_in_session_mode(self):
        settings = {"pool_mode": "session", "default_pool_size": 10}
        with Pooler(settings, databases=self.databases()) as pooler:
            for mode in ("extended", "prepared"):
                with self.subTest(mode=mode):
                    proc = pooler.pgbench("-M", mode, "-c", "4", "-j", "2", "-T", "5",
                                          dbname=self.db, timeout=60)
                    processed, failed = h.pgbench_counts(self, proc)
                    self.assertGreater(processed, 0)
                    self.assertEqual(failed, 0)


if __name__ == "__main__":
    h.main()
