-- webhook_events and sync_attempts as tables partitioned by time (PostgreSQL declarative range
-- partitioning), for a log store that retires old data by dropping partitions (by hand or with
-- pg_partman). Run it as the owner on an empty database BEFORE the migrations: they find both
-- tables and keep them (CREATE TABLE IF NOT EXISTS), then add indexes (created on every
-- partition), columns and triggers on the parents. docs/log-store.md ("Partitioned log tables")
-- says what differs and how to convert an existing store.
--
-- The columns are those of the migrations (0001, 0007, 0008). What partitioning changes: every
-- unique constraint must include the partition key, so the primary keys are (id, received_at) and
-- (id, finished_at), and event_id is unique per received_at only (a writer cannot decide duplicates
-- by ON CONFLICT (event_id); the reference Edge Function locks the id and looks it up instead). Partitions are yours to create, e.g.
--   CREATE TABLE webhook_events_2026_12_02 PARTITION OF webhook_events
--       FOR VALUES FROM ('2026-12-02') TO ('2026-12-03');
-- or with pg_partman: SELECT partman.create_parent('public.webhook_events', 'received_at', '1 day');

CREATE TABLE IF NOT EXISTS webhook_events (
    id               bigserial   NOT NULL,
    tx_id            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id         uuid        NOT NULL,
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
    payload_ref      text        NULL,
    payload_raw      bytea       NULL,
    PRIMARY KEY (id, received_at),
    UNIQUE (event_id, received_at)
) PARTITION BY RANGE (received_at);

CREATE TABLE IF NOT EXISTS sync_attempts (
    id           bigserial   NOT NULL,
    tx_id        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id     uuid        NOT NULL,
    org_id       text        NOT NULL,
    queue        text        NOT NULL DEFAULT 'sync_queue',
    item_id      bigint      NULL,
    attempt      integer     NOT NULL CHECK (attempt >= 1),
    reprocess    boolean     NOT NULL DEFAULT false,
    worker       text        NULL,
    received_at  timestamptz NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text        NOT NULL CHECK (outcome IN ('succeeded', 'retrying', 'gave_up', 'abandoned')),
    error_class  text        NULL CHECK (error_class IN ('portal_unavailable', 'portal_auth',
                     'portal_rejected', 'conflict', 'invalid_data', 'timeout', 'worker_lost',
                     'internal', 'other')),
    http_status  integer     NULL CHECK (http_status BETWEEN 100 AND 599),
    error_detail text        NULL,
    CHECK ((outcome = 'succeeded') = (error_class IS NULL)),
    PRIMARY KEY (id, finished_at)
) PARTITION BY RANGE (finished_at);
