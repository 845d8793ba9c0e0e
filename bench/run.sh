#!/usr/bin/env bash
# The benchmark, one command: bench/run.sh [--events 1000000,10000000] [more bench/run.py options]
# Needs PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres, trust auth; set
# BENCH_DATABASE_URL or --admin-url otherwise), psql, cargo and python3. Creates and drops the
# databases whe_bench_<n>; writes bench/results/*.json and the tables in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x bench/.venv/bin/query-exporter ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install -q query-exporter==5.0.2 psycopg2-binary
fi
cargo build --profile dist --quiet --bin webhook-health-exporter --example bench_encode

bench/.venv/bin/python bench/run.py "$@"
bench/.venv/bin/python bench/report.py
