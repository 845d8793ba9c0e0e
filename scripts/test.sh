#!/usr/bin/env bash
# Runs every test: formatting, lints, and the whole cargo test suite against real PostgreSQL,
# SQLite, Prometheus, Alertmanager and promtool. Installs and starts what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-test-deps.sh
# shellcheck source=scripts/ensure-postgres.sh
source scripts/ensure-postgres.sh

cargo fmt --all -- --check
# The house (issue #19): no import circle among src/'s files, no Rust file over 450 lines.
python3 scripts/import-graph.py src --check
find src tests examples -name '*.rs' -print0 | xargs -0 wc -l |
  awk '$2 != "total" && $1 > 450 { print "over 450 lines: " $2 " (" $1 ")"; long = 1 } END { exit long }'
cargo clippy --all-targets --locked -- -D warnings
# The runner's own summary per binary, and one line for the whole suite at the end.
log=$(mktemp)  # not a trap: ensure-postgres.sh's EXIT trap stops a throwaway cluster
set +e
cargo test --all-targets --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
rm -f "$log"
exit "$status"
