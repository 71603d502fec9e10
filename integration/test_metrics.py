#!/usr/bin/python3
"""The metrics endpoint and the saturation alerts, against real clients: /metrics passes
`promtool check metrics` and agrees with SHOW STATS / SHOW POOLS after a pgbench run and while a
queue stands; a saturated pool fires PoolSaturated and ClientsWaiting once each (SHOW ALERTS,
pooler_alert_firing, the log line, an Alertmanager-style POST to a receiver the test runs) and
resolves them once the load ends, and re-sends a firing alert with the same startsAt; /readyz
follows PAUSE/RESUME, a SIGTERM drain and an unreachable database while /healthz stays 200;
saturation_action = reject_new refuses logins with 53300 while the alert fires; and the reason
counters (auth_failed, unknown_database, query_wait_timeout, config reloads) move.

Every case runs against a database of its own, with alert_interval = 0.2 so the sample (and so
every metric) settles quickly; values are polled, never waited for by fixed sleeps."""

import http.server
import json
import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import psycopg

import harness as h
import isolated_db
from harness import Pooler
from prometheus_text import parse_metrics

CASE_LIMIT = 90  # s; a case running longer than this is hung
DEADLINE = 30  # s; generous bound for anything that should happen "soon"
USER = "scramuser"

BASE = {"auth_type": "scram-sha-256", "pool_mode": "transaction", "admin_users": USER,
        "alert_interval": 0.2, "query_wait_timeout": 60}

ALERT_COLUMNS = ["alert", "database", "user", "severity", "since", "value", "threshold"]


def pick_port():
    """A free TCP port below the ephemeral range, so no outgoing connection can take it."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((h.HOST, port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-32000")


class MetricsPooler(Pooler):
    """A Pooler with a metrics port and an [alerts] section ({"Rule.field": value})."""

    def __init__(self, settings, databases=None, alerts=None, **kwargs):
        super().__init__(settings, databases, **kwargs)
        self.alerts = dict(alerts or {})
        self.metrics_port = None

    def write_config(self):
        self.metrics_port = pick_port()
        self.settings["metrics_port"] = self.metrics_port
        super().write_config()
        if self.alerts:
            extra = "\n[alerts]\n" + "".join(f"{k} = {v}\n" for k, v in self.alerts.items())
            self.ini_text += extra
            with open(self.ini, "a") as f:
                f.write(extra)

    def _start(self):
        try:
            return super()._start()
        except AssertionError:
            # The metrics port was taken between pick_port and the pooler's bind: try again.
            if "cannot listen for metrics" in self.log():
                return False
            raise

    def get(self, path):
        return h.http_get(self.metrics_port, path)

    def metrics_text(self):
        status, body = self.get("/metrics")
        # Right after start the janitor may not have taken its first sample yet (slow under
        # ASan): that 503 is documented, and waited out.
        deadline = time.monotonic() + 10
        while status == 503 and body.startswith("no sample yet") and time.monotonic() < deadline:
            time.sleep(0.1)
            status, body = self.get("/metrics")
        if status != 200:
            raise AssertionError(f"/metrics answered {status}: {body[:300]}")
        return body

    def metrics(self):
        return parse_metrics(self.metrics_text())


# --- the console ---

def console(pooler):
    return pooler.connect(USER, dbname="pgbouncer")




def one_row(admin, what, db):
    rows = [r for r in h.show(admin, what)[1] if r["database"] == db]
    if len(rows) != 1:
        raise AssertionError(f"SHOW {what}: expected one row for {db}, got {rows}")
    return rows[0]


def alert_rows(admin, db):
    return {r["alert"]: r for r in h.show(admin, "ALERTS")[1] if r["database"] == db}


# --- a webhook receiver ---

class Receiver:
    """An HTTP server on a free port that answers 200 to every POST and keeps the alerts each
    body held (a JSON array), in arrival order."""

    def __init__(self):
        self.alerts, self.bodies, self.errors = [], [], []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.bodies.append((self.path, body))
                    try:
                        parsed = json.loads(body)
                        assert isinstance(parsed, list), parsed
                        receiver.alerts.extend(parsed)
                    except Exception as e:  # noqa: BLE001 - reported by the test
                        receiver.errors.append(f"{e!r}: {body[:300]!r}")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((h.HOST, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://{h.HOST}:{self.port}/api/v2/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def messages(self, alertname, db):
        with self.lock:
            return [a for a in self.alerts if a.get("labels", {}).get("alertname") == alertname
                    and a["labels"].get("database") == db]

    def by_state(self, alertname, db, state):
        return [a for a in self.messages(alertname, db)
                if a.get("annotations", {}).get("state") == state]


# --- load ---

class Load:
    """n clients, each on its own psycopg connection and thread, running `SELECT pg_sleep(s)`
    back to back until stopped. Connects every client before the load starts."""

    def __init__(self, test, pooler, n, sleep):
        self.stop_event = threading.Event()
        self.errors, self.queries = [], 0
        self.conns = [test.connect(pooler) for _ in range(n)]
        self.sql = f"SELECT pg_sleep({sleep})"
        self.threads = [threading.Thread(target=self._run, args=(c,), daemon=True)
                        for c in self.conns]
        self.lock = threading.Lock()
        for t in self.threads:
            t.start()

    def _run(self, conn):
        try:
            while not self.stop_event.is_set():
                conn.execute(self.sql)
                with self.lock:
                    self.queries += 1
        except Exception as e:  # noqa: BLE001 - reported by stop()
            self.errors.append(e)

    def stop(self):
        """Ends the load; every client finishes its query and disconnects."""
        if self.stop_event.is_set():
            return
        self.stop_event.set()
        for t in self.threads:
            t.join(DEADLINE)
        for c in self.conns:
            c.close()
        if any(t.is_alive() for t in self.threads):
            raise AssertionError("a load client was still running 30 s after the stop")
        if self.errors:
            raise AssertionError(f"load clients failed: {self.errors[:3]!r}")


class Case(isolated_db.Case):
    db_prefix, case_limit = "met", CASE_LIMIT

    def pooler(self, alerts=None, databases=None, **overrides):
        if databases is None:
            databases = {self.db: isolated_db.db_line(self.db)}
        return MetricsPooler(dict(BASE, **overrides), databases, alerts=alerts)

    def start_load(self, pooler, n, sleep):
        load = Load(self, pooler, n, sleep)
        self.addCleanup(load.stop)
        return load

    def settle(self, pooler, refreshes=5):
        """Waits until the sample has been refreshed `refreshes` more times (uptime moves)."""
        seen = set()

        def moved():
            seen.add(pooler.metrics().value("pooler_uptime_seconds"))
            return len(seen) > refreshes

        h.wait_until(moved, timeout=DEADLINE, interval=0.1,
                     message=f"{refreshes} refreshes of the metrics sample")

    def wait_metric(self, pooler, name, expected, **labels):
        """Polls /metrics until name{labels} == expected (a value or a callable on it)."""
        check = expected if callable(expected) else (lambda v: v == expected)
        last = []

        def ok():
            v = pooler.metrics().get(name, **labels)
            last[:] = [v]
            return v is not None and check(v)

        try:
            h.wait_until(ok, timeout=DEADLINE, interval=0.1, message=f"{name}{labels}")
        except AssertionError:
            self.fail(f"{name}{labels} stayed {last[0]!r}, expected {expected!r}")
        return last[0]

    def pool_labels(self):
        return {"database": self.db, "user": USER}

    def alert_log_lines(self, pooler, alert, state):
        pattern = re.compile(rf"alert={alert} state={state} database={re.escape(self.db)} "
                             rf"user={USER} severity=\S+ value=\S+ threshold=\S+")
        return [line for line in pooler.log().splitlines() if pattern.search(line)]


class MetricsAgreeWithConsole(Case):
    def test_promtool_and_console_agree_after_pgbench(self):
        h.pgbench_init(self.db)
        with self.pooler(default_pool_size=2) as pooler, console(pooler) as admin:
            status, body = pooler.get("/metrics")
            self.assertEqual(status, 200, body)
            proc = pooler.pgbench("-n", "-c", 4, "-j", 2, "-t", 40, dbname=self.db)
            processed, failed = h.pgbench_counts(self, proc)
            self.assertEqual((processed, failed), (160, 0))

            labels = self.pool_labels()
            # Once the sample is refreshed, the counters equal SHOW STATS'.
            stats = one_row(admin, "STATS", self.db)
            self.assertGreaterEqual(stats["total_xact_count"], processed, stats)
            self.wait_metric(pooler, "pooler_pool_transactions_total",
                             stats["total_xact_count"], **labels)
            m = pooler.metrics()
            stats = one_row(admin, "STATS", self.db)
            pairs = [("pooler_pool_transactions_total", "total_xact_count"),
                     ("pooler_pool_queries_total", "total_query_count"),
                     ("pooler_pool_received_bytes_total", "total_received"),
                     ("pooler_pool_sent_bytes_total", "total_sent"),
                     ("pooler_pool_server_assignments_total", "total_server_assignment_count"),
                     ("pooler_pool_client_logins_total", "total_client_login_count")]
            for metric, column in pairs:
                self.assertEqual(m.value(metric, **labels), stats[column],
                                 f"{metric} vs SHOW STATS {column}: {stats}")
            for metric, column in (("pooler_pool_wait_seconds_total", "total_wait_time"),
                                   ("pooler_pool_transaction_seconds_total", "total_xact_time"),
                                   ("pooler_pool_query_seconds_total", "total_query_time")):
                self.assertAlmostEqual(m.value(metric, **labels) * 1e6, float(stats[column]),
                                       delta=1.0,
                                       msg=f"{metric} vs SHOW STATS {column} (us)")
            self.assertGreater(stats["total_wait_time"], 0, "4 clients on 2 servers never waited")
            # One wait observation per server assignment.
            assignments = m.value("pooler_pool_server_assignments_total", **labels)
            self.assertGreaterEqual(assignments, processed)
            self.assertEqual(m.value("pooler_client_wait_seconds_count", **labels), assignments)
            self.assertAlmostEqual(m.value("pooler_client_wait_seconds_sum", **labels),
                                   m.value("pooler_pool_wait_seconds_total", **labels),
                                   delta=1e-6)
            self.assertEqual(m.value("pooler_client_wait_seconds_bucket", le="+Inf", **labels),
                             assignments)
            self.assertEqual(m.value("pooler_transaction_duration_seconds_count", **labels),
                             stats["total_xact_count"])
            self.assertEqual(m.value("pooler_pool_size", **labels), 2)
            # pgbench's 4 clients, and its first connection that reads the scale.
            self.assertGreaterEqual(m.get("pooler_pool_client_logins_total",
                                          pool_mode="transaction", **labels), 4)

            # The whole body, with every family populated, passes promtool.
            text = pooler.metrics_text()
            check = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                                   capture_output=True, text=True, timeout=60)
            self.assertEqual(check.returncode, 0,
                             f"promtool check metrics exited {check.returncode}:\n"
                             f"{check.stdout}{check.stderr}")
            for family in ("pooler_client_connections_refused_total", "pooler_timeouts_total",
                           "pooler_open_fds", "pooler_max_fds", "pooler_uptime_seconds",
                           "pooler_build_info", "pooler_ready", "pooler_paused",
                           "pooler_query_duration_seconds_bucket"):
                self.assertIn(f"\n{family}", text)
            self.assertEqual(parse_metrics(text).value("pooler_ready"), 1)

    def test_gauges_agree_with_show_pools_while_a_queue_stands(self):
        with self.pooler(default_pool_size=2) as pooler, console(pooler) as admin:
            labels = self.pool_labels()
            idle = self.connect(pooler)  # logged in, holding nothing
            self.addCleanup(idle.close)
            idle.execute("SELECT 1")
            holders = [self.connect(pooler, autocommit=False) for _ in range(2)]
            for c in holders:
                self.addCleanup(c.close)
                c.execute("SELECT 1")  # each holds a server in its open transaction
            waiter_conn = self.connect(pooler)
            self.addCleanup(waiter_conn.close)
            result = {}
            waiter = threading.Thread(
                target=lambda: result.update(v=waiter_conn.execute("SELECT 7").fetchone()[0]),
                daemon=True)
            waiter.start()

            def agree():
                pool = one_row(admin, "POOLS", self.db)
                if pool["cl_waiting"] != 1:
                    return None
                m = pooler.metrics()
                got = {k: m.get(f"pooler_pool_{k}", **labels)
                       for k in ("client_waiting", "client_active", "client_idle", "server_active",
                                 "server_idle", "server_used", "server_login")}
                # PgBouncer's cl_active counts the idle clients too.
                want = {"client_waiting": pool["cl_waiting"], "client_active": 2,
                        "client_idle": pool["cl_active"] - 2,
                        "server_active": pool["sv_active"], "server_idle": pool["sv_idle"],
                        "server_used": pool["sv_used"], "server_login": pool["sv_login"]}
                agree.last = (got, want, pool)
                maxwait = m.get("pooler_pool_maxwait_seconds", **labels) or 0
                return (got == want and maxwait > 0
                        and m.get("pooler_pool_utilization", **labels) == 1)

            agree.last = None
            try:
                h.wait_until(agree, timeout=DEADLINE, interval=0.1,
                             message="the metrics to match SHOW POOLS")
            except AssertionError:
                self.fail(f"metrics vs SHOW POOLS (got, want, pool): {agree.last}")
            self.assertEqual((agree.last[2]["sv_active"], agree.last[2]["cl_active"]), (2, 3),
                             agree.last)
            self.assertTrue(waiter.is_alive(), "the third client was served on a pool of 2")

            for c in holders:
                c.commit()
            waiter.join(DEADLINE)
            self.assertEqual(result.get("v"), 7)
            self.wait_metric(pooler, "pooler_pool_client_waiting", 0, **labels)
            self.wait_metric(pooler, "pooler_pool_server_active", 0, **labels)
            pool = one_row(admin, "POOLS", self.db)
            self.assertEqual((pool["cl_waiting"], pool["sv_active"]), (0, 0), pool)


class SaturationAlerts(Case):
    # resolve_threshold stays the threshold: a steady overload must not flap.
    ALERTS = {"PoolSaturated.for": 1, "ClientsWaiting.for": 1, "ClientsWaiting.threshold": 0.5}

    def setUp(self):
        super().setUp()
        self.receiver = Receiver()
        self.addCleanup(self.receiver.close)

    def test_saturation_fires_and_resolves_once_everywhere(self):
        with self.pooler(alerts=self.ALERTS, default_pool_size=5, alert_resend_interval=3600,
                         alert_webhook_url=self.receiver.url) as pooler, \
                console(pooler) as admin:
            labels = self.pool_labels()
            with self.connect(pooler) as c:
                c.execute("SELECT 1")  # the pool exists, idle
            self.settle(pooler)
            names, _ = h.show(admin, "ALERTS")
            self.assertEqual(names, ALERT_COLUMNS)
            # Nothing fires on an idle pool.
            self.assertEqual(alert_rows(admin, self.db), {})
            m = pooler.metrics()
            for alert in ("PoolSaturated", "ClientsWaiting"):
                self.assertNotEqual(m.get("pooler_alert_firing", alert=alert, database=self.db),
                                    1)
                self.assertEqual(self.alert_log_lines(pooler, alert, "firing"), [])
                self.assertEqual(self.receiver.messages(alert, self.db), [])

            load = self.start_load(pooler, 20, 0.5)
            rows = h.wait_until(
                lambda: (lambda r: r if {"PoolSaturated", "ClientsWaiting"} <= set(r) else None)(
                    alert_rows(admin, self.db)),
                timeout=DEADLINE, interval=0.1, message="both alerts in SHOW ALERTS")
            sat, waiting = rows["PoolSaturated"], rows["ClientsWaiting"]
            self.assertEqual((sat["user"], sat["severity"]), (USER, "warning"), sat)
            self.assertEqual(float(sat["threshold"]), 0.8, sat)
            self.assertGreaterEqual(float(sat["value"]), 0.8, sat)
            self.assertIsNotNone(sat["since"], sat)
            self.assertEqual(float(waiting["threshold"]), 0.5, waiting)
            self.assertGreaterEqual(float(waiting["value"]), 0.5, waiting)
            for alert in ("PoolSaturated", "ClientsWaiting"):
                self.wait_metric(pooler, "pooler_alert_firing", 1, alert=alert,
                                 severity="warning", **labels)
                h.wait_until(lambda a=alert: self.receiver.by_state(a, self.db, "firing"),
                             timeout=DEADLINE, message=f"the webhook's {alert} firing POST")
                self.assertEqual(len(self.alert_log_lines(pooler, alert, "firing")), 1,
                                 pooler.log()[-3000:])
            self.assertEqual(self.alert_log_lines(pooler, "PoolSaturated", "firing")[0]
                             .split("threshold=")[1].strip(), "0.8")
            m = pooler.metrics()
            self.assertEqual(m.value("pooler_pool_utilization", **labels), 1)
            self.assertGreater(m.value("pooler_pool_client_waiting", **labels), 5)

            load.stop()
            self.assertGreater(load.queries, 20)
            for alert in ("PoolSaturated", "ClientsWaiting"):
                self.wait_metric(pooler, "pooler_alert_firing", 0, alert=alert, **labels)
                h.wait_until(lambda a=alert: self.receiver.by_state(a, self.db, "resolved"),
                             timeout=DEADLINE, message=f"the webhook's {alert} resolved POST")
            self.assertEqual(alert_rows(admin, self.db), {})
            self.settle(pooler)  # nothing more comes later

            self.assertEqual(self.receiver.errors, [])
            for alert in ("PoolSaturated", "ClientsWaiting"):
                with self.subTest(alert=alert):
                    fired = self.alert_log_lines(pooler, alert, "firing")
                    ended = self.alert_log_lines(pooler, alert, "resolved")
                    self.assertEqual((len(fired), len(ended)), (1, 1), fired + ended)
                    self.assertRegex(fired[0], r"\] WARNING alert=")
                    self.assertRegex(ended[0], r"\] LOG alert=")
                    messages = self.receiver.messages(alert, self.db)
                    firing = self.receiver.by_state(alert, self.db, "firing")
                    resolved = self.receiver.by_state(alert, self.db, "resolved")
                    self.assertEqual((len(firing), len(resolved), len(messages)), (1, 1, 2),
                                     messages)
                    f, r = firing[0], resolved[0]
                    self.assertEqual(f["startsAt"], r["startsAt"], messages)
                    self.assertRegex(f["startsAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
                    self.assertNotIn("endsAt", f)
                    self.assertIn("endsAt", r)
                    self.assertGreaterEqual(r["endsAt"], r["startsAt"])
                    for msg in (f, r):
                        self.assertEqual(msg["labels"]["user"], USER)
                        self.assertEqual(msg["labels"]["severity"], "warning")
                        self.assertTrue(msg["labels"].get("instance"), msg)
                        self.assertTrue(msg["annotations"].get("summary"), msg)
            paths = {p for p, _ in self.receiver.bodies}
            self.assertEqual(paths, {"/api/v2/alerts"})

    def test_a_firing_alert_is_resent_with_the_same_start(self):
        alerts = dict(self.ALERTS, **{"PoolSaturated.resolve_threshold": 0.5})
        with self.pooler(alerts=alerts, default_pool_size=2, alert_resend_interval=1,
                         alert_webhook_url=self.receiver.url) as pooler:
            load = self.start_load(pooler, 4, 0.3)
            h.wait_until(lambda: len(self.receiver.by_state("PoolSaturated", self.db,
                                                            "firing")) >= 3,
                         timeout=DEADLINE, interval=0.1,
                         message="PoolSaturated POSTed three times (fired, re-sent twice)")
            self.assertEqual(len(self.alert_log_lines(pooler, "PoolSaturated", "firing")), 1,
                             "a re-send is not a new firing")
            load.stop()
            h.wait_until(lambda: self.receiver.by_state("PoolSaturated", self.db, "resolved"),
                         timeout=DEADLINE, message="the resolved POST")
            messages = self.receiver.messages("PoolSaturated", self.db)
            self.assertEqual(len({m["startsAt"] for m in messages}), 1, messages)
            self.assertEqual(self.receiver.by_state("PoolSaturated", self.db, "resolved")[-1],
                             messages[-1])
            # Once resolved it is not re-sent.
            count = len(messages)
            self.settle(pooler, refreshes=8)
            self.assertEqual(len(self.receiver.messages("PoolSaturated", self.db)), count)


class Readiness(Case):
    def readyz(self, pooler):
        return pooler.get("/readyz")

    def wait_ready(self, pooler, status, reason=""):
        last = []

        def ok():
            last[:] = [self.readyz(pooler)]
            return last[0][0] == status and reason in last[0][1]

        try:
            h.wait_until(ok, timeout=DEADLINE, interval=0.1, message=f"/readyz {status}")
        except AssertionError:
            self.fail(f"/readyz stayed {last[0]!r}, expected {status} {reason!r}")
        self.assertEqual(pooler.get("/healthz"), (200, "ok\n"))
        return last[0][1]

    def test_pause_makes_it_not_ready_until_resume(self):
        with self.pooler() as pooler, console(pooler) as admin:
            self.assertEqual(self.readyz(pooler), (200, "ready\n"))
            self.assertEqual(pooler.get("/healthz"), (200, "ok\n"))
            self.assertEqual(pooler.metrics().value("pooler_paused"), 0)
            admin.execute("PAUSE")
            body = self.wait_ready(pooler, 503, "paused")
            self.assertTrue(body.startswith("not ready: "), body)
            m = pooler.metrics()
            self.assertEqual((m.value("pooler_paused"), m.value("pooler_ready")), (1, 0))
            admin.execute("RESUME")
            self.wait_ready(pooler, 200)
            self.assertEqual(self.readyz(pooler), (200, "ready\n"))
            self.wait_metric(pooler, "pooler_paused", 0)
            self.assertEqual(pooler.metrics().value("pooler_ready"), 1)
            with self.connect(pooler) as c:
                self.assertEqual(c.execute("SELECT 1").fetchone()[0], 1)
            # SUSPEND too, until RESUME.
            admin.execute("SUSPEND")
            self.wait_ready(pooler, 503, "suspended")
            admin.execute("RESUME")
            self.wait_ready(pooler, 200)
            with self.connect(pooler) as c:
                self.assertEqual(c.execute("SELECT 2").fetchone()[0], 2)

    def test_sigterm_drain_is_not_ready_while_a_session_stays(self):
        with self.pooler(pool_mode="session") as pooler:
            client = self.connect(pooler)
            self.addCleanup(client.close)
            self.assertEqual(client.execute("SELECT 1").fetchone()[0], 1)
            self.assertEqual(self.readyz(pooler), (200, "ready\n"))
            pooler.send_signal(signal.SIGTERM)
            self.wait_ready(pooler, 503, "shutting down")
            self.wait_metric(pooler, "pooler_ready", 0)
            # It waits for the session, which goes on; health stays 200 throughout.
            self.assertTrue(pooler.alive())
            self.assertEqual(client.execute("SELECT 2").fetchone()[0], 2)
            self.assertEqual(pooler.get("/healthz"), (200, "ok\n"))
            self.assertEqual(self.readyz(pooler)[0], 503)
            client.close()
            code = pooler.proc.wait(timeout=DEADLINE)
            self.assertEqual(code, 0, h.describe_exit(code))

    def test_unreachable_database_never_logged_in_is_not_ready(self):
        dead_port = pick_port()  # nothing listens there
        databases = {self.db: isolated_db.db_line(self.db, port=dead_port)}
        with self.pooler(databases=databases) as pooler:
            body = self.wait_ready(pooler, 503, "no configured database")
            self.assertTrue(body.startswith("not ready: "), body)
            self.assertEqual(pooler.metrics().value("pooler_ready"), 0)
            self.settle(pooler)
            self.assertEqual(self.readyz(pooler)[0], 503)
            self.assertEqual(pooler.get("/healthz"), (200, "ok\n"))


class RejectNew(Case):
    def test_saturated_pool_refuses_new_logins_with_53300(self):
        with self.pooler(alerts={"PoolSaturated.for": 1, "ClientsWaiting.enabled": "false"},
                         default_pool_size=2, saturation_action="reject_new",
                         max_wait_queue=2) as pooler, console(pooler) as admin:
            refused = "pooler_client_connections_refused_total"

            def refused_count():
                return pooler.metrics().value(refused, reason="saturated")

            with self.login(pooler) as raw:  # a login works before the load
                self.assertEqual(raw.query("SELECT 1"), [["1"]])
            self.settle(pooler)
            self.assertEqual(refused_count(), 0)

            load = self.start_load(pooler, 6, 0.5)
            h.wait_until(lambda: "PoolSaturated" in alert_rows(admin, self.db),
                         timeout=DEADLINE, interval=0.1, message="PoolSaturated to fire")

            def refused_login():
                if one_row(admin, "POOLS", self.db)["cl_waiting"] <= 2:
                    return None
                client = h.RawClient(pooler.port, timeout=DEADLINE)
                try:
                    client.login(USER, self.db, h.password(USER))
                except h.PgError as e:
                    return e
                finally:
                    client.close()
                return None

            error = h.wait_until(refused_login, timeout=DEADLINE, interval=0.1,
                                 message="a login refused while saturated and > 2 waiting")
            self.assertEqual(error.sqlstate, "53300", error.fields)
            self.assertEqual(error.fields.get("S"), "FATAL", error.fields)
            self.assertIn("saturated", error.message)
            self.wait_metric(pooler, refused, lambda v: v >= 1, reason="saturated")
            # psycopg is refused as well.
            with self.assertRaises(psycopg.OperationalError) as caught:
                self.connect(pooler).close()
            self.assertIn("saturated", str(caught.exception))

            load.stop()
            h.wait_until(lambda: "PoolSaturated" not in alert_rows(admin, self.db),
                         timeout=DEADLINE, interval=0.1, message="PoolSaturated to resolve")
            before = refused_count()
            with self.login(pooler) as raw:
                self.assertEqual(raw.query("SELECT 2"), [["2"]])
            with self.connect(pooler) as c:
                self.assertEqual(c.execute("SELECT 3").fetchone()[0], 3)
            self.settle(pooler)
            self.assertEqual(refused_count(), before, "logins after the load were refused")


class ReasonCounters(Case):
    def test_refusals_by_reason(self):
        with self.pooler() as pooler:
            m = pooler.metrics()
            reasons = {l["reason"] for l, _ in m.find("pooler_client_connections_refused_total")}
            self.assertLessEqual({"max_client_conn", "auth_failed", "not_allowed",
                                  "unknown_database", "database_disabled", "saturated",
                                  "login_timeout", "protocol_error", "server_login_failed"},
                                 reasons)
            name = "pooler_client_connections_refused_total"
            self.assertEqual(m.value(name, reason="auth_failed"), 0)
            self.assertEqual(m.value(name, reason="unknown_database"), 0)
            accepted = m.value("pooler_client_connections_accepted_total")

            with h.RawClient(pooler.port) as raw:
                with self.assertRaises(h.PgError) as caught:
                    raw.login(USER, self.db, "not-the-password")
            self.assertEqual(caught.exception.sqlstate, "28P01", caught.exception.fields)
            self.wait_metric(pooler, name, 1, reason="auth_failed")

            with h.RawClient(pooler.port) as raw:
                with self.assertRaises(h.PgError) as caught:
                    raw.login(USER, "no_such_db_xyz", h.password(USER))
            self.assertEqual(caught.exception.sqlstate, "3D000", caught.exception.fields)
            self.wait_metric(pooler, name, 1, reason="unknown_database")

            with self.login(pooler) as raw:
                raw.query("SELECT 1")
            self.wait_metric(pooler, "pooler_client_connections_accepted_total", accepted + 1)
            m = pooler.metrics()
            self.assertEqual(m.value(name, reason="auth_failed"), 1)
            self.assertEqual(m.value(name, reason="unknown_database"), 1)
            self.assertEqual(m.value(name, reason="saturated"), 0)

    def test_query_wait_timeout_is_counted_and_alerts(self):
        with self.pooler(alerts={"WaitTimeoutsHappening.for": 0},
                         default_pool_size=1, query_wait_timeout=1) as pooler, \
                console(pooler) as admin:
            labels = self.pool_labels()
            with self.connect(pooler, autocommit=False) as holder:
                holder.execute("SELECT 1")  # holds the only server in a transaction
                self.settle(pooler)
                m = pooler.metrics()
                self.assertEqual(m.value("pooler_timeouts_total", timeout="query_wait_timeout"), 0)
                self.assertEqual(m.value("pooler_pool_query_wait_timeouts_total", **labels), 0)
                self.assertNotIn("WaitTimeoutsHappening", alert_rows(admin, self.db))
                with self.connect(pooler) as waiter:
                    with self.assertRaises(psycopg.Error) as caught:
                        waiter.execute("SELECT 2")
                self.assertIn("query_wait_timeout", isolated_db.error_text(caught.exception))
                self.wait_metric(pooler, "pooler_timeouts_total", 1, timeout="query_wait_timeout")
                self.wait_metric(pooler, "pooler_pool_query_wait_timeouts_total", 1, **labels)
                rows = h.wait_until(lambda: alert_rows(admin, self.db).get(
                    "WaitTimeoutsHappening"), timeout=DEADLINE, interval=0.1,
                    message="WaitTimeoutsHappening in SHOW ALERTS")
                self.assertEqual(float(rows["value"]), 1, rows)
                self.wait_metric(pooler, "pooler_alert_firing", 1,
                                 alert="WaitTimeoutsHappening", **labels)
                self.assertEqual(
                    len(self.alert_log_lines(pooler, "WaitTimeoutsHappening", "firing")), 1)
                holder.commit()

    def test_reload_is_counted(self):
        with self.pooler() as pooler, console(pooler) as admin:
            name = "pooler_config_reloads_total"
            m = pooler.metrics()
            self.assertEqual((m.value(name, result="success"), m.value(name, result="failure")),
                             (0, 0))
            admin.execute("RELOAD")
            self.wait_metric(pooler, name, 1, result="success")
            self.assertEqual(pooler.metrics().value(name, result="failure"), 0)


class LoginAndProcessAlerts(Case):
    def test_server_login_failures_are_counted_and_alert(self):
        dead_port = pick_port()  # nothing listens there
        databases = {self.db: isolated_db.db_line(self.db, port=dead_port)}
        with self.pooler(databases=databases, query_wait_timeout=2) as pooler, \
                console(pooler) as admin:
            labels = self.pool_labels()
            self.settle(pooler)
            self.assertNotIn("ServerLoginFailing", alert_rows(admin, self.db))
            refused = "pooler_client_connections_refused_total"
            self.assertEqual(pooler.metrics().value(refused, reason="server_login_failed"), 0)
            # The client waits for a server that never logs in, then is refused.
            with h.RawClient(pooler.port, timeout=DEADLINE) as raw:
                with self.assertRaises(h.PgError):
                    raw.login(USER, self.db, h.password(USER))
            self.wait_metric(pooler, "pooler_pool_server_login_failures_total",
                             lambda v: v >= 1, **labels)
            self.wait_metric(pooler, refused, 1, reason="server_login_failed")
            row = h.wait_until(lambda: alert_rows(admin, self.db).get("ServerLoginFailing"),
                               timeout=DEADLINE, interval=0.1,
                               message="ServerLoginFailing in SHOW ALERTS")
            self.assertEqual(row["severity"], "critical", row)
            self.wait_metric(pooler, "pooler_alert_firing", 1, alert="ServerLoginFailing",
                             severity="critical", **labels)
            self.assertEqual(len(self.alert_log_lines(pooler, "ServerLoginFailing", "firing")), 1)

    def test_clients_near_max_client_conn_alert_and_the_refusal_is_counted(self):
        with self.pooler(max_client_conn=5) as pooler, console(pooler) as admin:
            def near_limit():
                return [r for r in h.show(admin, "ALERTS")[1]
                        if r["alert"] == "ClientConnectionsNearLimit"]

            refused = "pooler_client_connections_refused_total"
            self.settle(pooler)
            self.assertEqual(near_limit(), [])
            self.assertEqual(pooler.metrics().value(refused, reason="max_client_conn"), 0)
            # The console and four clients: 5 of 5.
            clients = [self.connect(pooler) for _ in range(4)]
            try:
                rows = h.wait_until(near_limit, timeout=DEADLINE, interval=0.1,
                                    message="ClientConnectionsNearLimit in SHOW ALERTS")
                self.assertIsNone(rows[0]["database"], rows)
                self.assertEqual(pooler.metrics().value("pooler_clients"), 5)
                with h.RawClient(pooler.port, timeout=DEADLINE) as raw:
                    with self.assertRaises(h.PgError) as caught:
                        raw.login(USER, self.db, h.password(USER))
                self.assertEqual(caught.exception.sqlstate, "53300", caught.exception.fields)
                self.wait_metric(pooler, refused, 1, reason="max_client_conn")
            finally:
                for c in clients:
                    c.close()
            h.wait_until(lambda: not near_limit(), timeout=DEADLINE, interval=0.1,
                         message="ClientConnectionsNearLimit to resolve")
            firing = re.compile(r"alert=ClientConnectionsNearLimit state=(firing|resolved)")
            states = [m[1] for m in firing.finditer(pooler.log())]
            self.assertEqual(states, ["firing", "resolved"])


if __name__ == "__main__":
    h.main()
