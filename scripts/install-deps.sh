#!/usr/bin/env bash
# Installs the Debian 12 packages needed to build, test, demo and benchmark pooler.
# Idempotent: asks dpkg which packages are missing and installs only those; silent when none are.
set -euo pipefail

packages=(
  build-essential cmake pkg-config clang-format
  libuv1-dev libpq-dev libssl-dev libinih-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev doctest-dev libsystemd-dev
  # SASLprep for SCRAM passwords: RFC 3454 tables (libidn) and NFKC (ICU).
  libidn-dev libicu-dev
  # postgresql-contrib-15 is only a virtual name (provided by postgresql-15); dpkg never reports
  # it installed, so ask for the real metapackage instead.
  postgresql-15 postgresql-client-15 postgresql-contrib
  pgbouncer python3 python3-psycopg
  # asyncpg: a driver whose default statement cache names statements (test_prepared_statements.py).
  python3-asyncpg
  # psycopg2: the DB-API driver most health-check scripts use (integration/test_console_drivers.py).
  python3-psycopg2
  procps iproute2 util-linux coreutils
  # The openssl command makes the throwaway certificates of `make run` and `make bench`.
  openssl
  # systemd-analyze and systemd-sysusers check systemd/ offline (scripts/verify-service.sh); no
  # running systemd is needed.
  systemd
  # Only /usr/bin/promtool is used: it checks and unit-tests deploy/prometheus/ (deploy/deploy.cmake).
  # The package's server is never started by the tests.
  prometheus
  # The fuzz build (make build-fuzz): clang, and clang 14's runtimes (libFuzzer, ASan, UBSan),
  # which clang only recommends; llvm for llvm-symbolizer, so a finding's stack names its lines.
  clang libclang-rt-14-dev llvm
)

missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${db:Status-Status}\n' "$pkg" 2>/dev/null | grep -qx installed; then
    missing+=("$pkg")
  fi
done
# kubectl checks deploy/kubernetes (its kustomize renders the manifests) and npm fetches the
# schema validators and node's pg: Debian's packages, unless the commands come from elsewhere.
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]} == 0)); then
  exit 0
fi

as_root=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null; then
    echo "install-deps: missing packages: ${missing[*]}; run this script as root (sudo is not installed)" >&2
    exit 1
  fi
  as_root=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
