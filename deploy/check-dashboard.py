#!/usr/bin/python3
"""Checks deploy/grafana/pooler-dashboard.json (CTest deploy.grafana_dashboard).

    check-dashboard.py DASHBOARD.json [--promtool PROMTOOL]
    check-dashboard.py --names-only FILE...

The dashboard must be valid JSON shaped like an importable Grafana dashboard (title, uid,
schemaVersion, a Prometheus datasource variable, the database and user variables), every panel
must have a datasource and at least one non-empty query, and every pooler_* name that a query or
template variable uses must be a metric that pooler serves on /metrics (METRICS below; histograms
only through their _bucket/_sum/_count series). With --promtool, every query is also parsed by
promtool (Grafana's $variables replaced by plain values) via `promtool check rules`.

--names-only only checks that every pooler_* name in the given files (e.g. the Prometheus rules
and their tests) is a known metric. Standard library only; exits 1 listing every problem.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

# Keep in sync with the /metrics endpoint (src/).
GAUGES = {
    "pooler_pool_client_active", "pooler_pool_client_waiting", "pooler_pool_client_idle",
    "pooler_pool_server_active", "pooler_pool_server_idle", "pooler_pool_server_used",
    "pooler_pool_server_login", "pooler_pool_size", "pooler_pool_utilization",
    "pooler_pool_maxwait_seconds",
    "pooler_open_fds", "pooler_max_fds", "pooler_clients", "pooler_max_client_conn",
    "pooler_uptime_seconds", "pooler_start_time_seconds", "pooler_build_info", "pooler_ready",
    "pooler_paused", "pooler_alert_firing",
}
COUNTERS = {
    "pooler_pool_transactions_total", "pooler_pool_queries_total",
    "pooler_pool_received_bytes_total", "pooler_pool_sent_bytes_total",
    "pooler_pool_transaction_seconds_total", "pooler_pool_query_seconds_total",
    "pooler_pool_wait_seconds_total", "pooler_pool_server_assignments_total",
    "pooler_pool_client_logins_total", "pooler_pool_server_login_failures_total",
    "pooler_pool_query_wait_timeouts_total", "pooler_pool_client_parses_total",
    "pooler_pool_server_parses_total", "pooler_pool_binds_total",
    "pooler_client_connections_accepted_total", "pooler_client_connections_refused_total",
    "pooler_timeouts_total", "pooler_server_connections_closed_total",
    "pooler_cancel_requests_total", "pooler_client_errors_total", "pooler_config_reloads_total",
    "pooler_abandoned_requests_cancelled_total", "pooler_peer_cancels_forwarded_total",
    "pooler_peer_cancels_received_total", "pooler_peer_cancels_dropped_total",
}
HISTOGRAMS = {
    "pooler_client_wait_seconds", "pooler_query_duration_seconds",
    "pooler_transaction_duration_seconds",
}
METRICS = GAUGES | COUNTERS | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

NAME = re.compile(r"(?<![A-Za-z0-9_:])pooler_[A-Za-z0-9_:]*")
# Grafana's variables and macros, replaced so that promtool can parse the query.
MACROS = [
    (re.compile(r"\$__(rate_)?interval\b|\$\{__(rate_)?interval\}|\$__range\b"), "5m"),
    (re.compile(r"\$\{?__[A-Za-z_]+(:[A-Za-z]+)?\}?"), "1"),
    (re.compile(r"\$\{[A-Za-z0-9_]+(:[A-Za-z]+)?\}|\$[A-Za-z0-9_]+"), ".*"),
]


def unknown_names(text):
    return sorted({n for n in NAME.findall(text) if n not in METRICS})


def walk_panels(panels):
    for panel in panels or []:
        yield panel
        # Collapsed rows keep their panels inside.
        yield from walk_panels(panel.get("panels"))


def check_dashboard(path, promtool):
    problems = []
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        return [f"not valid JSON: {e}"]
    if not isinstance(dash, dict):
        return ["not a JSON object"]

    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict)):
        if not isinstance(dash.get(key), kind):
            problems.append(f"dashboard: missing or mistyped {key!r}")
    if problems:
        return problems
    if dash["schemaVersion"] < 36:
        problems.append(f"dashboard: schemaVersion {dash['schemaVersion']} is older than 36")

    variables = {v.get("name"): v for v in dash["templating"].get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("templating: no datasource variable DS_PROMETHEUS of type prometheus")
    queries = []  # (where, expr)
    for name in ("database", "user"):
        var = variables.get(name)
        if not var or var.get("type") != "query":
            problems.append(f"templating: no query variable {name!r}")
    for name, var in variables.items():
        if var.get("type") != "query":
            continue
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        if not q.strip():
            problems.append(f"templating: variable {name!r} has an empty query")
        problems += [f"templating: variable {name!r} uses unknown metric {n}"
                     for n in unknown_names(q)]
        m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\)\s*", q)
        if m:
            queries.append((f"variable {name!r}", m.group(1)))

    ids = set()
    graphs = 0
    for panel in walk_panels(dash["panels"]):
        title = panel.get("title") or f"panel id {panel.get('id')}"
        if panel.get("type") == "row":
            continue
        graphs += 1
        if panel.get("id") in ids:
            problems.append(f"panel {title!r}: duplicate id {panel.get('id')}")
        ids.add(panel.get("id"))
        gp = panel.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in "xywh"):
            problems.append(f"panel {title!r}: no gridPos")
        if panel.get("type") == "text":
            continue
        if "DS_PROMETHEUS" not in json.dumps(panel.get("datasource")):
            problems.append(f"panel {title!r}: datasource is not ${{DS_PROMETHEUS}}")
        targets = panel.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        for t in targets:
            expr = t.get("expr", "")
            if not expr.strip():
                problems.append(f"panel {title!r}: query {t.get('refId')} is empty")
                continue
            if "pooler_" not in expr:
                problems.append(f"panel {title!r}: query {t.get('refId')} uses no pooler metric")
            problems += [f"panel {title!r}: unknown metric {n} in {expr!r}"
                         for n in unknown_names(expr)]
            queries.append((f"panel {title!r} query {t.get('refId')}", expr))
    if graphs == 0:
        problems.append("dashboard: no panels")

    if promtool and not problems:
        problems += promtool_parse(promtool, queries)
    return problems


def promtool_parse(promtool, queries):
    """Parses every query as a recording rule with `promtool check rules`."""
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr) in enumerate(queries):
        for pattern, value in MACROS:
            expr = pattern.sub(value, expr)
        lines.append(f"      - record: dashboard_query_{i}")
        lines.append(f"        expr: {json.dumps(expr)}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("\n".join(lines) + "\n")
    try:
        r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if r.returncode == 0:
        return []
    out = (r.stdout + r.stderr).strip()
    # promtool names the rule by its position: point back at the panel.
    for i, (where, _) in enumerate(queries):
        out = re.sub(rf"\bdashboard_query_{i}\b", f"dashboard_query_{i} ({where})", out)
    return ["promtool cannot parse the queries:\n" + out]


def main(argv):
    if len(argv) >= 2 and argv[0] == "--names-only":
        files = argv[1:]
        problems = []
        for path in files:
            with open(path, encoding="utf-8") as f:
                problems += [f"{path}: unknown metric {n}" for n in unknown_names(f.read())]
    elif len(argv) in (1, 3) and (len(argv) == 1 or argv[1] == "--promtool"):
        files = argv[:1]
        promtool = argv[2] if len(argv) == 3 else None
        problems = [f"{argv[0]}: {p}" for p in check_dashboard(argv[0], promtool)]
    else:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for p in problems:
        print(f"check-dashboard: {p}", file=sys.stderr)
    if not problems:
        print(f"check-dashboard: OK: {' '.join(files)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
