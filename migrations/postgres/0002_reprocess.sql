-- Audit trail of the reprocessing API: one row per authorized reprocess request, written by the
-- exporter. A completed request and its queue items commit in one transaction, so the audit row
-- exists exactly when the items do.
CREATE TABLE IF NOT EXISTS reprocess_requests (
    id              bigserial   PRIMARY KEY,
    request_id      uuid        NOT NULL UNIQUE,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    principal       text        NOT NULL,
    auth_method     text        NOT NULL CHECK (auth_method IN ('token', 'jwt')),
    remote_addr     text        NULL,
    idempotency_key text        NULL,
    -- sha256 of the normalized request body: a replayed key must carry the same request.
    request_hash    text        NULL,
    dry_run         boolean     NOT NULL,
    selection       jsonb       NULL,
    status          text        NOT NULL
                    CHECK (status IN ('completed', 'dry_run', 'replayed', 'rejected', 'failed')),
    http_status     integer     NOT NULL,
    requested       integer     NOT NULL DEFAULT 0,
    enqueued        integer     NOT NULL DEFAULT 0,
    already_pending integer     NOT NULL DEFAULT 0,
    not_found       integer     NOT NULL DEFAULT 0,
    not_eligible    integer     NOT NULL DEFAULT 0,
    error_code      text        NULL,
    -- The exact response body, returned again when the same Idempotency-Key is replayed.
    response        text        NULL
);
-- Only completed (enqueueing) requests claim their key: a dry run, a rejected or failed attempt
-- leaves the key free for the real request. Enforced here so that replicas cannot both claim it.
CREATE UNIQUE INDEX IF NOT EXISTS reprocess_requests_idempotency
    ON reprocess_requests (principal, idempotency_key) WHERE status = 'completed';
CREATE INDEX IF NOT EXISTS reprocess_requests_time ON reprocess_requests (requested_at);
