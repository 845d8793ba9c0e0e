#!/usr/bin/env bash
# Runs every test: formatting, lints, and the whole cargo test suite against real PostgreSQL,
# SQLite, Prometheus, Alertmanager and promtool. Installs and starts what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# shellcheck source=scripts/ensure-postgres.sh
source scripts/ensure-postgres.sh

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
