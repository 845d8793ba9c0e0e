-- Log store contract, version 1. See docs/log-store.md for who writes what.

-- Organizations and the integration configuration the Dynamics portal uses.
CREATE TABLE IF NOT EXISTS organizations (
    org_id                  text        PRIMARY KEY CHECK (org_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    display_name            text        NOT NULL,
    endpoint_url            text        NOT NULL,
    endpoint_url_changed_at timestamptz NOT NULL DEFAULT now(),
    active                  boolean     NOT NULL DEFAULT true,
    created_at              timestamptz NOT NULL DEFAULT now()
);

-- One row per payload that reached the webhook endpoint, written by the Edge Function.
CREATE TABLE IF NOT EXISTS webhook_events (
    id               bigserial   PRIMARY KEY,
    -- The writing transaction. The exporter reads by this, not by id: a sequence value is taken at
    -- insert but becomes visible at commit, so ids appear out of order; transaction ids below the
    -- snapshot's xmin are final. Writers must leave it to its default.
    tx_id            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id         uuid        NOT NULL UNIQUE,
    org_id           text        NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    outcome          text        NOT NULL CHECK (outcome IN ('accepted', 'rejected', 'failed')),
    http_status      integer     NOT NULL CHECK (http_status BETWEEN 100 AND 599),
    rejection_reason text        NULL,
    error_detail     text        NULL,
    correlation_id   text        NULL,
    entity_name      text        NULL,
    message_name     text        NULL,
    payload          jsonb       NULL,
    payload_ref      text        NULL
);
CREATE INDEX IF NOT EXISTS webhook_events_tx ON webhook_events (tx_id, id);
CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events (received_at);
CREATE INDEX IF NOT EXISTS webhook_events_errors ON webhook_events (org_id, received_at DESC)
    WHERE outcome <> 'accepted';

-- The queue the portal sync service works off.
CREATE TABLE IF NOT EXISTS sync_queue (
    id                   bigserial   PRIMARY KEY,
    org_id               text        NOT NULL,
    event_id             uuid        NOT NULL,
    state                text        NOT NULL DEFAULT 'pending'
                         CHECK (state IN ('pending', 'processing', 'done', 'failed')),
    enqueued_at          timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    attempts             integer     NOT NULL DEFAULT 0,
    reprocess            boolean     NOT NULL DEFAULT false,
    reprocess_request_id uuid        NULL,
    requested_by         text        NULL,
    last_error           text        NULL
);
CREATE INDEX IF NOT EXISTS sync_queue_waiting ON sync_queue (org_id, enqueued_at)
    WHERE state = 'pending';
-- At most one reprocess of an event may be in flight: enforced here so that two exporter
-- replicas racing on the same request cannot both enqueue it.
CREATE UNIQUE INDEX IF NOT EXISTS sync_queue_one_open_reprocess ON sync_queue (event_id)
    WHERE reprocess AND state IN ('pending', 'processing');

-- Edge Function lifecycle events, as the edge runtime reports them.
CREATE TABLE IF NOT EXISTS edge_function_events (
    id              bigserial   PRIMARY KEY,
    tx_id           xid8        NOT NULL DEFAULT pg_current_xact_id(),
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    function_name   text        NOT NULL,
    event_type      text        NOT NULL
                    CHECK (event_type IN ('Boot', 'BootFailure', 'UncaughtException', 'Shutdown', 'Log')),
    shutdown_reason text        NULL,
    detail          text        NULL
);
CREATE INDEX IF NOT EXISTS edge_function_events_tx ON edge_function_events (tx_id, id);

-- Written by the exporter: the last moment each component was seen healthy, so a restart during
-- an outage still reports the true time.
CREATE TABLE IF NOT EXISTS component_health (
    component       text        PRIMARY KEY,
    last_healthy_at timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
