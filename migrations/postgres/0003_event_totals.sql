-- Counters that retention cannot lower, and a mark that tells the exporter rows were deleted.
-- See docs/log-store.md ("Counters, retention and deletes").

-- Running totals of every webhook_events row ever committed, grouped by the labels the metrics
-- use. A statement trigger appends one row per group and writing statement, in the writer's own
-- transaction, so a total is visible exactly when its rows are and a rollback takes both back.
-- Appending (never updating) keeps concurrent writers from queueing on a hot counter row; the
-- exporter folds the appended rows together from time to time. Never delete from this table.
CREATE TABLE IF NOT EXISTS webhook_event_totals (
    id               bigserial   PRIMARY KEY,
    org_id           text        NOT NULL,
    outcome          text        NOT NULL,
    http_status      integer     NOT NULL,
    rejection_reason text        NULL,
    count            bigint      NOT NULL,
    last_received_at timestamptz NOT NULL
);

-- How many DELETE or TRUNCATE statements have run on webhook_events: the exporter re-checks its
-- windows against the table when this moves.
CREATE TABLE IF NOT EXISTS webhook_event_deletions (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    statements bigint  NOT NULL DEFAULT 0
);
INSERT INTO webhook_event_deletions (singleton, statements) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- SECURITY DEFINER: writers need no privilege on the exporter's tables.
CREATE OR REPLACE FUNCTION webhook_events_add_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %I.webhook_event_totals (org_id, outcome, http_status, rejection_reason, count, last_received_at)
         SELECT org_id, outcome, http_status, rejection_reason, count(*), max(received_at)
         FROM new_rows GROUP BY org_id, outcome, http_status, rejection_reason',
        TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION webhook_events_count_deletions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('UPDATE %I.webhook_event_deletions SET statements = statements + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

-- Creating the trigger locks out writers until this migration commits, so the totals seeded
-- below and the ones the trigger adds afterwards cover every row exactly once.
DROP TRIGGER IF EXISTS webhook_events_add_totals ON webhook_events;
CREATE TRIGGER webhook_events_add_totals AFTER INSERT ON webhook_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_add_totals();
DROP TRIGGER IF EXISTS webhook_events_count_deletions ON webhook_events;
CREATE TRIGGER webhook_events_count_deletions AFTER DELETE OR TRUNCATE ON webhook_events
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_events_count_deletions();

INSERT INTO webhook_event_totals (org_id, outcome, http_status, rejection_reason, count, last_received_at)
SELECT org_id, outcome, http_status, rejection_reason, count(*), max(received_at)
FROM webhook_events
WHERE NOT EXISTS (SELECT 1 FROM webhook_event_totals)
GROUP BY org_id, outcome, http_status, rejection_reason;
