#!/usr/bin/env bash
# Starts the whole cluster locally against the simulated primary and keeps it running until
# Ctrl-C: MariaDB, Redis, the simulator, the coordinator, the gateway and the fetchers, each its
# own process on a free loopback port. Prints the endpoints, the configuration file it wrote and
# commands to try (seaf-backup status, commits with events, verify).
# Usage: tests/cluster.sh [DIR] [--libraries N] [--fetchers N]   (default DIR: ./cluster-data, replaced)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-cluster-data}
shift || true
bash tests/deps.sh
cargo build --locked --release --bins -q
rm -rf "$DIR"
exec target/release/seaf-backup-cluster up --dir "$DIR" "$@"
