# pooler container image: build on Debian 12, run on a slim Debian 12 with only the shared
# libraries the binary links. Build and run commands: README.md, "Running as a service".

FROM debian:bookworm-slim AS build
# The build part of scripts/install-deps.sh: compiler, CMake and the -dev packages. No PostgreSQL
# or pgbouncer: the integration tests and benchmarks do not run here.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      libuv1-dev libpq-dev libssl-dev libinih-dev libspdlog-dev libfmt-dev \
      prometheus-cpp-dev doctest-dev libsystemd-dev libidn-dev libicu-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Same configuration as `make build` (RelWithDebInfo, -O2, the one the tests exercise), without
# registering the integration tests and with warnings left as warnings (POOLER_WERROR is off
# outside `make test`); only the pooler target is built. Debug info is stripped on install.
RUN cmake -S . -B build -DPOOLER_INTEGRATION=OFF \
 && cmake --build build -j"$(nproc)" --target pooler \
 && install -D -s -m 0755 build/pooler /out/usr/bin/pooler
# The runtime packages are the Debian packages owning the libraries the binary links, so this list
# follows CMakeLists.txt by itself (linking a new library needs no edit here). A library is
# registered under /lib or /usr/lib depending on its package (usrmerge): try both. The build fails
# if one belongs to no package.
RUN set -eu; \
    if ldd /out/usr/bin/pooler | grep 'not found'; then exit 1; fi; \
    for lib in $(ldd /out/usr/bin/pooler | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'); do \
      real="$(realpath "$lib")"; \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}"; \
    done > /tmp/owners; \
    cut -d: -f1 /tmp/owners | sort -u > /out/runtime-packages.txt; \
    cat /out/runtime-packages.txt

FROM debian:bookworm-slim
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
# psql stays in the image, for exec probes such as
# `psql -h /run/pooler -p 6432 -U pgbouncer -d pgbouncer -c "SHOW STATS"` (the user pgbouncer is
# admitted over the unix socket when its uid is the pooler's).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $(cat /tmp/runtime-packages.txt) postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
COPY --from=build /out/usr/bin/pooler /usr/bin/pooler
# Fails the image build if a shared library is still missing.
RUN if ldd /usr/bin/pooler | grep 'not found'; then exit 1; fi; /usr/bin/pooler --version

# A fixed uid/gid, so mounted files (userlist.txt, TLS keys) can be chowned to it on the host.
RUN groupadd --gid 6432 pooler \
 && useradd --uid 6432 --gid pooler --home-dir / --no-create-home \
      --shell /usr/sbin/nologin pooler

# The sample configuration is the default; mount your own over /etc/pooler/pooler.ini (and
# /etc/pooler/userlist.txt, which the sample's auth_file names and the image does not ship).
# In a container 127.0.0.1 is unreachable from outside: listen on every address instead.
COPY etc/pooler.ini /etc/pooler/pooler.ini
RUN sed -i 's/^listen_addr = 127\.0\.0\.1$/listen_addr = */' /etc/pooler/pooler.ini \
 && grep -qx 'listen_addr = \*' /etc/pooler/pooler.ini

USER pooler
# Relative %include paths in the ini are taken from the current directory.
WORKDIR /etc/pooler
# 6432: clients. 9127: Prometheus metrics, served when the ini sets metrics_port = 9127 (and
# metrics_addr = * to be reachable from outside the container).
EXPOSE 6432 9127
# docker stop sends SIGTERM: pooler stops listening and lets its clients finish (PgBouncer
# 1.23), but Docker kills it after 10 s unless given more (`docker stop -t 120`).
# `docker kill -s QUIT` shuts down at once. pooler handles its signals itself, so it can be PID 1.
# No HEALTHCHECK: the metrics endpoint's /healthz and /readyz (metrics_port) are the probes.
CMD ["/usr/bin/pooler", "/etc/pooler/pooler.ini"]
