#!/usr/bin/env bash
# Checks deploy/prometheus/pooler-alerts.yml with `promtool check rules`, runs its unit tests
# (pooler-alerts.test.yml) with `promtool test rules`, and checks that every pooler_* name in both
# files is a metric pooler serves (check-dashboard.py --names-only). CTest: deploy.promtool_rules.
# Exit 77 (CTest: skipped) only when promtool is missing (Debian package prometheus; make deps).
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
promtool="${PROMTOOL:-$(command -v promtool || true)}"
if [[ -z "$promtool" ]]; then
  echo "check-rules: promtool not found (Debian package prometheus); skipping"
  exit 77
fi

cd "$dir/prometheus"
"$promtool" check rules pooler-alerts.yml
"$promtool" test rules pooler-alerts.test.yml
/usr/bin/python3 "$dir/check-dashboard.py" --names-only pooler-alerts.yml pooler-alerts.test.yml
