#!/usr/bin/env bash
# Creates the compose stack's secrets in this folder, once: random URL-safe passwords, the two
# connection URLs built from them, and a lifecycle-ingestion token with its sha256. Existing files are kept (delete one to renew it; the database
# keeps the old passwords until you change them there too). The *.txt files are gitignored.
set -Eeuo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
umask 022 # the containers run as their own users: the files must be readable by them...
chmod 700 . # ...so this folder keeps everyone else out instead.

password() { head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }
create() { [ -s "$1.txt" ] || printf '%s\n' "$2" > "$1.txt"; }

create postgres_password "$(password)"
create exporter_db_password "$(password)"
create grafana_reader_password "$(password)"
create grafana_admin_password "$(password)"
create owner_database_url "postgres://webhook_admin:$(< postgres_password.txt)@postgres:5432/webhooks"
create exporter_database_url "postgres://webhook_exporter:$(< exporter_db_password.txt)@postgres:5432/webhooks"
create ingest_token "$(password)"
create ingest_token_sha256 "simulator:$(printf %s "$(< ingest_token.txt)" | sha256sum | cut -d' ' -f1)"
ls -l ./*.txt
