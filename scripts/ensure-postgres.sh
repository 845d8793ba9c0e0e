#!/usr/bin/env bash
# Sourced by scripts/test.sh: makes WHE_TEST_DATABASE_URL point at a PostgreSQL admin URL.
# Uses the given URL, else a server on 127.0.0.1:5432, else starts a throwaway cluster
# (initdb/pg_ctl refuse to run as root, so they run as the postgres user) stopped on exit.
# WHE_TEST_THROWAWAY_PG=1 skips the local server. The tests hold on a busy shared server (they
# keep write transactions open in another database themselves, tests/it/support/busy.rs).

if [ -n "${WHE_TEST_DATABASE_URL:-}" ]; then
  echo "ensure-postgres: using WHE_TEST_DATABASE_URL" >&2
elif [ -z "${WHE_TEST_THROWAWAY_PG:-}" ] &&
  psql "postgres://postgres@127.0.0.1:5432/postgres" -Atqc 'select 1' >/dev/null 2>&1; then
  export WHE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"
  echo "ensure-postgres: using the server on 127.0.0.1:5432" >&2
else
  pg_bin=$(dirname "$(command -v initdb 2>/dev/null || ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
  WHE_PG_DIR=$(mktemp -d /tmp/whe-pg.XXXXXX)
  WHE_PG_PORT=${WHE_PG_PORT:-55432}
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$WHE_PG_DIR"
    as_pg=(runuser -u postgres --)
  fi
  echo "ensure-postgres: starting a throwaway cluster in $WHE_PG_DIR on port $WHE_PG_PORT" >&2
  "${as_pg[@]}" "$pg_bin/initdb" -D "$WHE_PG_DIR/data" --auth=trust -U postgres >/dev/null
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$WHE_PG_DIR/data" -l "$WHE_PG_DIR/log" -w \
    -o "-p $WHE_PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$WHE_PG_DIR -c max_connections=300" start >/dev/null
  export WHE_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$WHE_PG_PORT/postgres"
  # shellcheck disable=SC2064
  trap "${as_pg[*]} $pg_bin/pg_ctl -D $WHE_PG_DIR/data -m fast stop >/dev/null; rm -rf $WHE_PG_DIR" EXIT
fi

# Databases left by earlier runs.
psql "$WHE_TEST_DATABASE_URL" -Atqc "select datname from pg_database where datname like 'whe_test_%'" 2>/dev/null |
  while read -r db; do psql "$WHE_TEST_DATABASE_URL" -qc "drop database if exists $db" >/dev/null 2>&1 || true; done
