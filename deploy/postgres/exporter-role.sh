#!/usr/bin/env bash
# Applies exporter_role.psql (the exporter's least-privilege login role) as the owner of the
# log-store tables. The compose service `exporter-role` runs it after `migrate`, over TCP
# (PGHOST, PGUSER, PGDATABASE); passwords come from files (compose secrets), never from the
# environment: PGPASSWORD_FILE (the owner's) and WHE_EXPORTER_DB_PASSWORD_FILE (the role's).
set -Eeo pipefail

# VAR_FILE -> VAR, for this process and psql only.
file_env() {
    local var="$1" file_var="${1}_FILE"
    if [ -n "${!file_var:-}" ]; then
        if [ ! -r "${!file_var}" ]; then
            echo "exporter-role.sh: cannot read ${file_var}=${!file_var}" >&2
            exit 1
        fi
        export "$var"="$(< "${!file_var}")"
    fi
}
file_env PGPASSWORD
file_env WHE_EXPORTER_DB_PASSWORD

exec psql -X -q -v ON_ERROR_STOP=1 \
    -v role="${WHE_EXPORTER_DB_ROLE:-webhook_exporter}" \
    -f "$(dirname "${BASH_SOURCE[0]}")/exporter_role.psql"
