-- Counters that retention cannot lower, and a mark that tells the exporter rows were deleted
-- (embedded SQLite flavour; see migrations/postgres/0003_event_totals.sql and docs/log-store.md).
-- SQLite has one writer at a time, so the totals are kept one row per group.

CREATE TABLE IF NOT EXISTS webhook_event_totals (
    org_id           TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    http_status      INTEGER NOT NULL,
    -- '' for none: a primary key column cannot hold NULL.
    rejection_reason TEXT    NOT NULL,
    count            INTEGER NOT NULL,
    last_received_at TEXT    NOT NULL,
    PRIMARY KEY (org_id, outcome, http_status, rejection_reason)
);

CREATE TABLE IF NOT EXISTS webhook_event_deletions (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    statements INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO webhook_event_deletions (singleton, statements) VALUES (1, 0);

INSERT OR IGNORE INTO webhook_event_totals (org_id, outcome, http_status, rejection_reason, count, last_received_at)
SELECT org_id, outcome, http_status, coalesce(rejection_reason, ''), count(*), max(received_at)
FROM webhook_events GROUP BY org_id, outcome, http_status, coalesce(rejection_reason, '');

CREATE TRIGGER IF NOT EXISTS webhook_events_add_totals AFTER INSERT ON webhook_events
BEGIN
    INSERT INTO webhook_event_totals (org_id, outcome, http_status, rejection_reason, count, last_received_at)
    VALUES (NEW.org_id, NEW.outcome, NEW.http_status, coalesce(NEW.rejection_reason, ''), 1, NEW.received_at)
    ON CONFLICT (org_id, outcome, http_status, rejection_reason) DO UPDATE SET
        count = count + 1,
        last_received_at = max(last_received_at, excluded.last_received_at);
END;

-- Per row (SQLite has no statement triggers); the exporter only compares the number.
CREATE TRIGGER IF NOT EXISTS webhook_events_count_deletions AFTER DELETE ON webhook_events
BEGIN
    UPDATE webhook_event_deletions SET statements = statements + 1;
END;
