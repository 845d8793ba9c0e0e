-- Audit trail of the reprocessing API (embedded SQLite flavour). See the PostgreSQL migration.
CREATE TABLE IF NOT EXISTS reprocess_requests (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id      TEXT    NOT NULL UNIQUE,
    requested_at    TEXT    NOT NULL,
    principal       TEXT    NOT NULL,
    auth_method     TEXT    NOT NULL CHECK (auth_method IN ('token', 'jwt')),
    remote_addr     TEXT    NULL,
    idempotency_key TEXT    NULL,
    request_hash    TEXT    NULL,
    dry_run         INTEGER NOT NULL,
    selection       TEXT    NULL,
    status          TEXT    NOT NULL
                    CHECK (status IN ('completed', 'dry_run', 'replayed', 'rejected', 'failed')),
    http_status     INTEGER NOT NULL,
    requested       INTEGER NOT NULL DEFAULT 0,
    enqueued        INTEGER NOT NULL DEFAULT 0,
    already_pending INTEGER NOT NULL DEFAULT 0,
    not_found       INTEGER NOT NULL DEFAULT 0,
    not_eligible    INTEGER NOT NULL DEFAULT 0,
    error_code      TEXT    NULL,
    response        TEXT    NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS reprocess_requests_idempotency
    ON reprocess_requests (principal, idempotency_key) WHERE status = 'completed';
CREATE INDEX IF NOT EXISTS reprocess_requests_time ON reprocess_requests (requested_at);
