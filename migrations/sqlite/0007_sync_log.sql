-- The portal sync service's structured log (see migrations/postgres/0007_sync_log.sql and
-- docs/log-store.md). SQLite has no stored functions: the claim, finish and record statements
-- are documented in docs/log-store.md and used by the simulator (src/store/sqlite/sync.rs).

CREATE TABLE IF NOT EXISTS sync_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL,
    org_id       TEXT    NOT NULL,
    queue        TEXT    NOT NULL DEFAULT 'sync_queue',
    item_id      INTEGER NULL,
    attempt      INTEGER NOT NULL CHECK (attempt >= 1),
    reprocess    INTEGER NOT NULL DEFAULT 0,
    worker       TEXT    NULL,
    received_at  TEXT    NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('succeeded', 'retrying', 'gave_up', 'abandoned')),
    error_class  TEXT    NULL CHECK (error_class IN ('portal_unavailable', 'portal_auth',
                     'portal_rejected', 'conflict', 'invalid_data', 'timeout', 'worker_lost',
                     'internal', 'other')),
    http_status  INTEGER NULL CHECK (http_status BETWEEN 100 AND 599),
    error_detail TEXT    NULL,
    CHECK ((outcome = 'succeeded') = (error_class IS NULL))
);
CREATE INDEX IF NOT EXISTS sync_attempts_finished ON sync_attempts (finished_at);
CREATE INDEX IF NOT EXISTS sync_attempts_event ON sync_attempts (event_id, finished_at DESC);
CREATE INDEX IF NOT EXISTS sync_attempts_item ON sync_attempts (item_id, attempt) WHERE item_id IS NOT NULL;

ALTER TABLE sync_queue ADD COLUMN claimed_by TEXT NULL;
ALTER TABLE sync_queue ADD COLUMN claimed_at TEXT NULL;
ALTER TABLE sync_queue ADD COLUMN lease_until TEXT NULL;
ALTER TABLE sync_queue ADD COLUMN visible_at TEXT NULL;
ALTER TABLE sync_queue ADD COLUMN last_error_class TEXT NULL;
ALTER TABLE sync_queue ADD COLUMN last_http_status INTEGER NULL;
CREATE INDEX IF NOT EXISTS sync_queue_in_flight ON sync_queue (lease_until) WHERE state = 'processing';
CREATE INDEX IF NOT EXISTS sync_queue_event ON sync_queue (event_id);

-- Totals retention cannot lower; one row per group (SQLite has one writer: no hot-row contention).
-- NULLs are stored as '' / 0 / -1 so that the key can conflict.
CREATE TABLE IF NOT EXISTS sync_attempt_totals (
    org_id           TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    error_class      TEXT    NOT NULL,
    http_status      INTEGER NOT NULL,
    lag_le           REAL    NOT NULL,
    count            INTEGER NOT NULL,
    lag_sum          REAL    NOT NULL,
    last_finished_at TEXT    NOT NULL,
    PRIMARY KEY (org_id, outcome, error_class, http_status, lag_le)
);

CREATE TABLE IF NOT EXISTS sync_attempt_deletions (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    statements INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO sync_attempt_deletions (singleton, statements) VALUES (1, 0);

-- The lag bucket bounds are those of sync_lag_bucket() on PostgreSQL; 1e999 is +Inf.
CREATE TRIGGER IF NOT EXISTS sync_attempts_add_totals AFTER INSERT ON sync_attempts
BEGIN
    INSERT INTO sync_attempt_totals
        (org_id, outcome, error_class, http_status, lag_le, count, lag_sum, last_finished_at)
    SELECT NEW.org_id, NEW.outcome, coalesce(NEW.error_class, ''), coalesce(NEW.http_status, 0),
           CASE WHEN lag IS NULL THEN -1
                WHEN lag <= 1 THEN 1 WHEN lag <= 5 THEN 5 WHEN lag <= 15 THEN 15 WHEN lag <= 30 THEN 30
                WHEN lag <= 60 THEN 60 WHEN lag <= 120 THEN 120 WHEN lag <= 300 THEN 300
                WHEN lag <= 600 THEN 600 WHEN lag <= 1800 THEN 1800 WHEN lag <= 3600 THEN 3600
                WHEN lag <= 10800 THEN 10800 WHEN lag <= 21600 THEN 21600 WHEN lag <= 86400 THEN 86400
                ELSE 1e999 END,
           1, coalesce(lag, 0), NEW.finished_at
    FROM (SELECT CASE WHEN NEW.outcome = 'succeeded' AND NEW.received_at IS NOT NULL
                      THEN max((julianday(NEW.finished_at) - julianday(NEW.received_at)) * 86400.0, 0)
                 END AS lag)
    WHERE true
    ON CONFLICT (org_id, outcome, error_class, http_status, lag_le) DO UPDATE SET
        count = count + 1,
        lag_sum = lag_sum + excluded.lag_sum,
        last_finished_at = max(last_finished_at, excluded.last_finished_at);
END;

CREATE TRIGGER IF NOT EXISTS sync_attempts_count_deletions AFTER DELETE ON sync_attempts
BEGIN
    UPDATE sync_attempt_deletions SET statements = statements + 1;
END;

-- The safety net of the PostgreSQL migration: a give-up written straight into the queue is logged.
-- Times in the store's fixed-width form (microseconds; 'now' is one instant within a statement).
CREATE TRIGGER IF NOT EXISTS sync_queue_log_give_up AFTER UPDATE OF state ON sync_queue
WHEN NEW.state = 'failed' AND OLD.state IS NOT 'failed'
 AND NOT EXISTS (SELECT 1 FROM sync_attempts WHERE item_id = NEW.id AND queue = 'sync_queue'
                 AND attempt = max(NEW.attempts, 1) AND outcome = 'gave_up')
BEGIN
    INSERT INTO sync_attempts (event_id, org_id, queue, item_id, attempt, reprocess, worker, received_at,
                               started_at, finished_at, outcome, error_class, http_status, error_detail)
    VALUES (NEW.event_id, NEW.org_id, 'sync_queue', NEW.id, max(NEW.attempts, 1), NEW.reprocess, NEW.claimed_by,
            (SELECT received_at FROM webhook_events WHERE event_id = NEW.event_id),
            coalesce(NEW.claimed_at, strftime('%Y-%m-%dT%H:%M:%S', 'now') || substr(strftime('%f', 'now'), 3) || '000Z'),
            strftime('%Y-%m-%dT%H:%M:%S', 'now') || substr(strftime('%f', 'now'), 3) || '000Z', 'gave_up',
            CASE WHEN NEW.last_error_class IN ('portal_unavailable', 'portal_auth', 'portal_rejected',
                 'conflict', 'invalid_data', 'timeout', 'worker_lost', 'internal') THEN NEW.last_error_class
                 ELSE 'other' END,
            CASE WHEN NEW.last_http_status BETWEEN 100 AND 599 THEN NEW.last_http_status END,
            NEW.last_error);
END;
