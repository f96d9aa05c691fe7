#!/usr/bin/env bash
# Runs seaf-backup end to end on this machine, against a simulated Seafile primary:
#   1. starts its own MariaDB and Redis (free loopback ports), the simulated primary (5 libraries
#      with history, a virtual and an encrypted one), the coordinator, the gateway and 2 fetchers;
#   2. backs every library up with full history (the store is a seafile-data tree; the heads are
#      in MariaDB's Branch table) and prints `seaf-backup status`;
#   3. makes 10 commits on the primary, each announced to the gateway by seaf-server's repo-update
#      event, follows them, and verifies every library of the backup.
# Usage: tests/demo.sh [DIR]     (default DIR: ./demo-data, replaced on each run)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-demo-data}
bash tests/deps.sh
cargo build --locked --release --bins -q
rm -rf "$DIR"
exec "${CARGO_TARGET_DIR:-target}/release/seaf-backup-cluster" demo --dir "$DIR"
