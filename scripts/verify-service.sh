#!/usr/bin/env bash
# Checks systemd/pooler.service with `systemd-analyze verify` and systemd/pooler.sysusers with
# `systemd-sysusers --root`, offline (no running systemd needed). CTest: service.systemd_verify.
#
#   scripts/verify-service.sh BUILT_POOLER_BINARY
#
# verify insists that ExecStart's binary exists, and /usr/bin/pooler is not installed here: the
# unit is checked as a copy whose ExecStart names the freshly built binary instead. verify exits 0
# on many problems (an unknown key, a bad value: "ignoring"), so any stderr line about the unit
# fails the check too. Exit 77 (CTest: skipped) only when the systemd tools are missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
unit="$root/systemd/pooler.service"
sysusers="$root/systemd/pooler.sysusers"
bin="${1:?usage: $0 BUILT_POOLER_BINARY}"
bin="$(realpath "$bin")"

for tool in systemd-analyze systemd-sysusers; do
  if ! command -v "$tool" >/dev/null; then
    echo "verify-service: $tool not found (Debian package systemd); skipping"
    exit 77
  fi
done
if [[ "$bin" == *[[:space:]]* ]]; then
  echo "verify-service: the binary's path must not contain spaces: $bin" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The copy keeps the unit's name (verify derives the unit name from the file name).
copy="$tmp/pooler.service"
prefix="ExecStart=/usr/bin/pooler "
replaced=0
while IFS= read -r line; do
  if [[ "$line" == "$prefix"* ]]; then
    line="ExecStart=$bin ${line#"$prefix"}"
    replaced=$((replaced + 1))
  fi
  printf '%s\n' "$line"
done <"$unit" >"$copy"
if ((replaced != 1)); then
  echo "verify-service: expected one line starting '$prefix' in $unit, found $replaced" >&2
  exit 1
fi

status=0
# --recursive-errors=no: the exit status is about this unit, not the host's other unit files.
if ! systemd-analyze verify --recursive-errors=no "$copy" 2>"$tmp/verify.err"; then
  echo "verify-service: systemd-analyze verify failed" >&2
  status=1
fi
if grep -q -e "pooler.service" -e "$tmp" "$tmp/verify.err"; then
  echo "verify-service: systemd-analyze verify warned about the unit" >&2
  status=1
fi
if [[ -s "$tmp/verify.err" ]]; then
  echo "--- systemd-analyze verify said (line numbers are those of $unit):" >&2
  cat "$tmp/verify.err" >&2
fi

# sysusers: parse the file into an empty root, and the user must be the unit's User=.
mkdir -p "$tmp/root/etc"
if ! systemd-sysusers --root="$tmp/root" "$sysusers" >"$tmp/sysusers.out" 2>&1; then
  echo "verify-service: systemd-sysusers rejected $sysusers:" >&2
  cat "$tmp/sysusers.out" >&2
  status=1
fi
user="$(sed -n 's/^User=//p' "$unit")"
group="$(sed -n 's/^Group=//p' "$unit")"
if ! grep -q "^$user:" "$tmp/root/etc/passwd" 2>/dev/null ||
  ! grep -q "^$group:" "$tmp/root/etc/group" 2>/dev/null; then
  echo "verify-service: $sysusers does not create User=$user / Group=$group of the unit" >&2
  status=1
fi

if ((status == 0)); then
  echo "verify-service: $unit and $sysusers are clean"
fi
exit $status
