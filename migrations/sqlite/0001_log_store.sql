-- Log store contract, version 1 (embedded SQLite flavour). See docs/log-store.md.
-- Timestamps are RFC 3339 text in UTC, as sqlx writes chrono values; ids are assigned under
-- SQLite's single writer lock, so id order is commit order and no transaction column is needed.

CREATE TABLE IF NOT EXISTS organizations (
    org_id                  TEXT    PRIMARY KEY,
    display_name            TEXT    NOT NULL,
    endpoint_url            TEXT    NOT NULL,
    endpoint_url_changed_at TEXT    NOT NULL,
    active                  INTEGER NOT NULL DEFAULT 1,
    created_at              TEXT    NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id         TEXT    NOT NULL UNIQUE,
    org_id           TEXT    NOT NULL,
    received_at      TEXT    NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'failed')),
    http_status      INTEGER NOT NULL CHECK (http_status BETWEEN 100 AND 599),
    rejection_reason TEXT    NULL,
    error_detail     TEXT    NULL,
    correlation_id   TEXT    NULL,
    entity_name      TEXT    NULL,
    message_name     TEXT    NULL,
    payload          TEXT    NULL,
    payload_ref      TEXT    NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events (received_at);
CREATE INDEX IF NOT EXISTS webhook_events_errors ON webhook_events (org_id, received_at)
    WHERE outcome <> 'accepted';

CREATE TABLE IF NOT EXISTS sync_queue (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id               TEXT    NOT NULL,
    event_id             TEXT    NOT NULL,
    state                TEXT    NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'processing', 'done', 'failed')),
    enqueued_at          TEXT    NOT NULL,
    updated_at           TEXT    NOT NULL,
    attempts             INTEGER NOT NULL DEFAULT 0,
    reprocess            INTEGER NOT NULL DEFAULT 0,
    reprocess_request_id TEXT    NULL,
    requested_by         TEXT    NULL,
    last_error           TEXT    NULL
);
CREATE INDEX IF NOT EXISTS sync_queue_waiting ON sync_queue (org_id, enqueued_at)
    WHERE state = 'pending';
CREATE UNIQUE INDEX IF NOT EXISTS sync_queue_one_open_reprocess ON sync_queue (event_id)
    WHERE reprocess = 1 AND state IN ('pending', 'processing');

CREATE TABLE IF NOT EXISTS edge_function_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at     TEXT    NOT NULL,
    function_name   TEXT    NOT NULL,
    event_type      TEXT    NOT NULL
                    CHECK (event_type IN ('Boot', 'BootFailure', 'UncaughtException', 'Shutdown', 'Log')),
    shutdown_reason TEXT    NULL,
    detail          TEXT    NULL
);

CREATE TABLE IF NOT EXISTS component_health (
    component       TEXT PRIMARY KEY,
    last_healthy_at TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
