#!/usr/bin/env bash
# Checks deploy/kubernetes offline, as `make test` runs it (CTest deploy.kubernetes):
# - `kubectl kustomize` renders the base and the overlays (example, peering);
# - every rendered object validates against the Kubernetes API schemas (validate.mjs, with the
#   kubernetes-models packages from the npm registry, installed once into $2);
# - base/prometheusrule.yaml carries exactly deploy/prometheus/pooler-alerts.yml;
# - each pooler.ini passes `pooler --check` (with its mounted paths pointed at scratch files).
# Usage: check.sh <pooler binary> <npm cache dir>. Exit 77 (CTest: skipped) only when the npm
# registry cannot be reached to install the validators.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pooler_bin=$1
cache=$2
kubectl=$(command -v kubectl) || { echo "check: kubectl not found (Debian package kubernetes-client; make deps)" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

for target in base overlays/example overlays/peering; do
  out="$scratch/$(basename "$target").yaml"
  "$kubectl" kustomize "$here/$target" >"$out"
  echo "check: $target renders $(grep -c '^kind:' "$out") objects"
done

/usr/bin/python3 "$here/render-prometheusrule.py" --check
echo "check: base/prometheusrule.yaml carries deploy/prometheus/pooler-alerts.yml"

printf '"pooler_admin" "x"\n' >"$scratch/userlist.txt"
printf 'peer_id = 2\n' >"$scratch/peer.ini"  # what the StatefulSet's init container writes
for ini in "$here"/base/pooler.ini "$here"/overlays/*/pooler.ini; do
  sed -e "s|^auth_file = .*|auth_file = $scratch/userlist.txt|" \
      -e "s|^unix_socket_dir = .*|unix_socket_dir = $scratch|" \
      -e "s|^%include /run/pooler/peer.ini|%include $scratch/peer.ini|" "$ini" >"$scratch/pooler.ini"
  "$pooler_bin" --check "$scratch/pooler.ini" >"$scratch/check.out" 2>&1 || {
    cat "$scratch/check.out" >&2
    echo "check: ${ini#"$here"/} does not pass pooler --check" >&2
    exit 1
  }
  echo "check: ${ini#"$here"/} passes pooler --check"
done

if [[ ! -d "$cache/node_modules/kubernetes-models" || ! -d "$cache/node_modules/js-yaml" ]]; then
  mkdir -p "$cache"
  if ! npm install --no-audit --no-fund --loglevel=error --prefix "$cache" kubernetes-models@5 \
      @kubernetes-models/prometheus-operator@6 js-yaml@4 >"$scratch/npm.out" 2>&1; then
    cat "$scratch/npm.out" >&2
    echo "check: npm could not install the schema validators; skipping the schema check" >&2
    exit 77
  fi
fi
cp "$here/validate.mjs" "$cache/validate.mjs"
node "$cache/validate.mjs" "$scratch/base.yaml" "$scratch/example.yaml" "$scratch/peering.yaml"
