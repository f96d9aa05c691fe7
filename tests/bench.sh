#!/usr/bin/env bash
# Data-plane benchmark: builds the release binaries, then runs seaf-backup-bench with the given
# arguments (see `seaf-backup-bench --help`; e.g. `tests/bench.sh --rounds 3 --json`, or
# `tests/bench.sh --scale tiny` for a quick smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v rsync >/dev/null 2>&1; then
    echo "bench.sh: rsync not found: the benchmark compares against it (apt-get install rsync)" >&2
    exit 1
fi
cargo build --release --workspace --bins
exec "${CARGO_TARGET_DIR:-target}/release/seaf-backup-bench" "$@"
