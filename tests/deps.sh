#!/usr/bin/env bash
# Installs the Debian packages that the tests, the demo and the local cluster need, if missing:
# protoc (the gRPC wire types are generated from proto/), MariaDB and Redis (started on free
# loopback ports by the harness; nothing already running on this machine is used), rsync (the
# benchmark's peer), python3's venv (for the test tools of tests/tools.sh), Prometheus (its
# promtool checks the metrics every component serves) and openssl (the TLS tests' certificates).
set -euo pipefail
missing=()
command -v rsync >/dev/null || missing+=(rsync)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v mariadbd >/dev/null || missing+=(mariadb-server)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v promtool >/dev/null || missing+=(prometheus)
command -v openssl >/dev/null || missing+=(openssl)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
