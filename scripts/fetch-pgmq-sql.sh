#!/usr/bin/env bash
# pgmq's SQL (Supabase Queues) for the tests: the `pgmq` crate on crates.io ships it for installs
# without the server extension (src/install/embedded/sql/pgmq.sql), which runs on a plain
# PostgreSQL 15. Cargo fetches the crate (an ordinary registry download into ~/.cargo/registry,
# nothing built); this copies its SQL to $WHE_PGMQ_SQL (default ~/.cache/whe-pgmq/pgmq-$VERSION.sql),
# which tests/it/support/pgmq.rs installs into each pgmq test database. Safe to run again.
set -euo pipefail

PGMQ_CRATE_VERSION=0.33.1
target=${WHE_PGMQ_SQL:-$HOME/.cache/whe-pgmq/pgmq-$PGMQ_CRATE_VERSION.sql}
[ -s "$target" ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src"
cat >"$work/Cargo.toml" <<TOML
[package]
name = "whe-pgmq-sql"
version = "0.0.0"
edition = "2021"

[dependencies]
pgmq = { version = "=$PGMQ_CRATE_VERSION", default-features = false }
TOML
: >"$work/src/lib.rs"
echo "install-test-deps: fetching pgmq's SQL (crate pgmq $PGMQ_CRATE_VERSION from crates.io)" >&2
cargo fetch -q --manifest-path "$work/Cargo.toml"
manifest=$(cargo metadata -q --format-version 1 --manifest-path "$work/Cargo.toml" |
  python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "pgmq"))')
sql="$(dirname "$manifest")/src/install/embedded/sql/pgmq.sql"
mkdir -p "$(dirname "$target")"
cp "$sql" "$target.tmp" && mv "$target.tmp" "$target"
echo "install-test-deps: pgmq's SQL is in $target" >&2
