#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook of the postgres image: creates the read-only role
# grafana_reader (see grafana_reader.psql) with the password from GRAFANA_LOGSTORE_PASSWORD, or
# from the file named by GRAFANA_LOGSTORE_PASSWORD_FILE (a compose secret, as docker-compose.yml does).
# Runs only when the data volume is initialised for the first time.
set -Eeo pipefail

if [ -n "${GRAFANA_LOGSTORE_PASSWORD_FILE:-}" ]; then
    GRAFANA_LOGSTORE_PASSWORD="$(< "$GRAFANA_LOGSTORE_PASSWORD_FILE")"
    export GRAFANA_LOGSTORE_PASSWORD
fi

if [ -z "${GRAFANA_LOGSTORE_PASSWORD:-}" ]; then
    echo "10-grafana-reader.sh: GRAFANA_LOGSTORE_PASSWORD is not set" >&2
    exit 1
fi

psql -v ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
    -v owner="${POSTGRES_USER:-postgres}" \
    -f "$(dirname "${BASH_SOURCE[0]}")/grafana_reader.psql"
