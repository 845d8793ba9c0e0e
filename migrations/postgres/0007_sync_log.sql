-- The portal sync service's structured log and the functions it works the queue with.
-- See docs/log-store.md ("The sync service") for the contract.

-- One row per processing attempt of a queue item, append-only, read by the exporter exactly as it
-- reads webhook_events (by writing transaction). Written only through sync_record_attempt().
CREATE TABLE IF NOT EXISTS sync_attempts (
    id           bigserial   PRIMARY KEY,
    -- The writing transaction; writers must leave it to its default (see webhook_events.tx_id).
    tx_id        xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id     uuid        NOT NULL,
    org_id       text        NOT NULL,
    -- Which queue the item came from ('sync_queue', or 'pgmq:<name>') and its id there.
    queue        text        NOT NULL DEFAULT 'sync_queue',
    item_id      bigint      NULL,
    attempt      integer     NOT NULL CHECK (attempt >= 1),
    reprocess    boolean     NOT NULL DEFAULT false,
    worker       text        NULL,
    -- The event's received_at, copied when the attempt is recorded: the end-to-end lag of a
    -- successful sync is finished_at - received_at, without a join on the scrape's path.
    received_at  timestamptz NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now(),
    outcome      text        NOT NULL CHECK (outcome IN ('succeeded', 'retrying', 'gave_up', 'abandoned')),
    error_class  text        NULL CHECK (error_class IN ('portal_unavailable', 'portal_auth',
                     'portal_rejected', 'conflict', 'invalid_data', 'timeout', 'worker_lost',
                     'internal', 'other')),
    http_status  integer     NULL CHECK (http_status BETWEEN 100 AND 599),
    error_detail text        NULL,
    CHECK ((outcome = 'succeeded') = (error_class IS NULL))
);
CREATE INDEX IF NOT EXISTS sync_attempts_tx ON sync_attempts (tx_id, id);
CREATE INDEX IF NOT EXISTS sync_attempts_finished ON sync_attempts (finished_at);
CREATE INDEX IF NOT EXISTS sync_attempts_event ON sync_attempts (event_id, finished_at DESC);
CREATE INDEX IF NOT EXISTS sync_attempts_item ON sync_attempts (item_id, attempt) WHERE item_id IS NOT NULL;

-- What the claim and finish functions need on the queue: a lease per claim, a time before which a
-- retried item is not handed out again, and the last failure in the vocabulary of the log.
ALTER TABLE sync_queue
    ADD COLUMN IF NOT EXISTS claimed_by        text        NULL,
    ADD COLUMN IF NOT EXISTS claimed_at        timestamptz NULL,
    ADD COLUMN IF NOT EXISTS lease_until       timestamptz NULL,
    ADD COLUMN IF NOT EXISTS visible_at        timestamptz NULL,
    ADD COLUMN IF NOT EXISTS last_error_class  text        NULL,
    ADD COLUMN IF NOT EXISTS last_http_status  integer     NULL;
CREATE INDEX IF NOT EXISTS sync_queue_in_flight ON sync_queue (lease_until) WHERE state = 'processing';
CREATE INDEX IF NOT EXISTS sync_queue_event ON sync_queue (event_id);

-- Counters retention cannot lower, as webhook_event_totals for events: one row per group and
-- writing statement, folded together by the exporter. `lag_le` is the upper bound of the
-- end-to-end lag bucket of a successful attempt (sync_lag_bucket), NULL otherwise.
CREATE TABLE IF NOT EXISTS sync_attempt_totals (
    id               bigserial        PRIMARY KEY,
    org_id           text             NOT NULL,
    outcome          text             NOT NULL,
    error_class      text             NULL,
    http_status      integer          NULL,
    lag_le           double precision NULL,
    count            bigint           NOT NULL,
    lag_sum          double precision NOT NULL DEFAULT 0,
    last_finished_at timestamptz      NOT NULL
);

CREATE TABLE IF NOT EXISTS sync_attempt_deletions (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    statements bigint  NOT NULL DEFAULT 0
);
INSERT INTO sync_attempt_deletions (singleton, statements) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- The histogram's buckets, in seconds; the exporter's list (collector/sync.rs) must equal it.
CREATE OR REPLACE FUNCTION sync_lag_bucket(seconds double precision) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(min(b), 'Infinity'::double precision)
    FROM unnest(ARRAY[1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 86400]::double precision[]) AS b
    WHERE seconds <= b
$$;

CREATE OR REPLACE FUNCTION sync_attempts_add_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %1$I.sync_attempt_totals
             (org_id, outcome, error_class, http_status, lag_le, count, lag_sum, last_finished_at)
         SELECT org_id, outcome, error_class, http_status, lag_le, count(*), coalesce(sum(lag), 0), max(finished_at)
         FROM (SELECT org_id, outcome, error_class, http_status, finished_at, lag,
                      CASE WHEN lag IS NOT NULL THEN %1$I.sync_lag_bucket(lag) END AS lag_le
               FROM (SELECT *, CASE WHEN outcome = ''succeeded'' AND received_at IS NOT NULL
                                    THEN greatest(extract(epoch FROM finished_at - received_at)::float8, 0) END AS lag
                     FROM new_rows) AS r) AS l
         GROUP BY org_id, outcome, error_class, http_status, lag_le',
        TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_attempts_count_deletions() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('UPDATE %I.sync_attempt_deletions SET statements = statements + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS sync_attempts_add_totals ON sync_attempts;
CREATE TRIGGER sync_attempts_add_totals AFTER INSERT ON sync_attempts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION sync_attempts_add_totals();
DROP TRIGGER IF EXISTS sync_attempts_count_deletions ON sync_attempts;
CREATE TRIGGER sync_attempts_count_deletions AFTER DELETE OR TRUNCATE ON sync_attempts
    FOR EACH STATEMENT EXECUTE FUNCTION sync_attempts_count_deletions();

-- The error class an attempt is logged with: none for a success, 'worker_lost' for an abandoned
-- attempt, anything outside the vocabulary folds into 'other'.
CREATE OR REPLACE FUNCTION sync_error_class(p_outcome text, p_class text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_outcome = 'succeeded' THEN NULL
        WHEN p_outcome = 'abandoned' THEN 'worker_lost'
        WHEN p_class IN ('portal_unavailable', 'portal_auth', 'portal_rejected', 'conflict',
                         'invalid_data', 'timeout', 'worker_lost', 'internal') THEN p_class
        ELSE 'other' END
$$;

-- Records one processing attempt. The one way into sync_attempts, whatever the queue: a sync
-- service on Supabase Queues (pgmq) calls it directly; sync_finish and sync_claim call it for the
-- sync_queue table. An unknown error class folds into 'other'; an unknown outcome is an error.
CREATE OR REPLACE FUNCTION sync_record_attempt(
    p_event_id     uuid,
    p_org_id       text,
    p_attempt      integer,
    p_started_at   timestamptz,
    p_outcome      text,
    p_error_class  text        DEFAULT NULL,
    p_http_status  integer     DEFAULT NULL,
    p_error_detail text        DEFAULT NULL,
    p_worker       text        DEFAULT NULL,
    p_item_id      bigint      DEFAULT NULL,
    p_reprocess    boolean     DEFAULT false,
    p_queue        text        DEFAULT 'sync_queue'
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    new_id bigint;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN ('succeeded', 'retrying', 'gave_up', 'abandoned') THEN
        RAISE EXCEPTION 'sync_record_attempt: outcome % is not one of succeeded, retrying, gave_up, abandoned',
            coalesce(quote_literal(p_outcome), 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_event_id IS NULL OR p_org_id IS NULL OR p_started_at IS NULL THEN
        RAISE EXCEPTION 'sync_record_attempt: event_id, org_id and started_at are required' USING ERRCODE = '22004';
    END IF;
    IF p_http_status IS NOT NULL AND p_http_status NOT BETWEEN 100 AND 599 THEN
        RAISE EXCEPTION 'sync_record_attempt: http_status % is not an HTTP status (100-599)', p_http_status
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO sync_attempts (event_id, org_id, queue, item_id, attempt, reprocess, worker, received_at,
                               started_at, finished_at, outcome, error_class, http_status, error_detail)
    VALUES (p_event_id, p_org_id, coalesce(p_queue, 'sync_queue'), p_item_id, greatest(coalesce(p_attempt, 1), 1),
            coalesce(p_reprocess, false), left(p_worker, 200),
            (SELECT received_at FROM webhook_events WHERE event_id = p_event_id),
            least(p_started_at, now()), now(), p_outcome, sync_error_class(p_outcome, p_error_class), p_http_status, left(p_error_detail, 2000))
    RETURNING id INTO new_id;
    RETURN new_id;
END $$;

-- Hands out up to p_limit waiting items to worker p_worker for p_lease, oldest first; workers side
-- by side never get the same item (FOR UPDATE SKIP LOCKED). First returns the items whose lease
-- ran out (their worker vanished): each such attempt is logged 'abandoned', or 'gave_up' once the
-- item has had p_max_attempts attempts, with error class 'worker_lost'.
CREATE OR REPLACE FUNCTION sync_claim(
    p_worker       text,
    p_limit        integer  DEFAULT 1,
    p_lease        interval DEFAULT '5 minutes',
    p_max_attempts integer  DEFAULT 5
) RETURNS TABLE (item_id bigint, event_id uuid, org_id text, attempt integer, reprocess boolean,
                 received_at timestamptz, entity_name text, message_name text, payload jsonb)
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    lost record;
BEGIN
    IF p_worker IS NULL OR p_worker = '' THEN
        RAISE EXCEPTION 'sync_claim: a worker name is required' USING ERRCODE = '22004';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 1000 THEN
        RAISE EXCEPTION 'sync_claim: limit % is not between 1 and 1000', p_limit USING ERRCODE = '22023';
    END IF;
    IF p_lease IS NULL OR p_lease <= interval '0' THEN
        RAISE EXCEPTION 'sync_claim: lease % is not positive', p_lease USING ERRCODE = '22023';
    END IF;
    FOR lost IN
        SELECT q.* FROM sync_queue q
        WHERE q.state = 'processing' AND q.lease_until < now()
        ORDER BY q.lease_until LIMIT 100 FOR UPDATE SKIP LOCKED
    LOOP
        PERFORM sync_record_attempt(lost.event_id, lost.org_id, greatest(lost.attempts, 1),
            coalesce(lost.claimed_at, now()),
            CASE WHEN lost.attempts >= p_max_attempts THEN 'gave_up' ELSE 'abandoned' END,
            'worker_lost', NULL, format('lease of worker %s ran out at %s', lost.claimed_by, lost.lease_until),
            lost.claimed_by, lost.id, lost.reprocess);
        UPDATE sync_queue SET
            state = CASE WHEN lost.attempts >= p_max_attempts THEN 'failed' ELSE 'pending' END,
            lease_until = NULL, claimed_by = NULL, visible_at = NULL, updated_at = now(),
            last_error_class = 'worker_lost', last_http_status = NULL,
            last_error = format('lease of worker %s ran out', lost.claimed_by)
        WHERE id = lost.id;
    END LOOP;

    RETURN QUERY
    WITH picked AS (
        SELECT q.id FROM sync_queue q
        WHERE q.state = 'pending' AND (q.visible_at IS NULL OR q.visible_at <= now())
        ORDER BY q.enqueued_at, q.id LIMIT p_limit FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE sync_queue q SET state = 'processing', attempts = q.attempts + 1, claimed_by = p_worker,
               claimed_at = now(), lease_until = now() + p_lease, updated_at = now()
        FROM picked WHERE q.id = picked.id
        RETURNING q.id, q.event_id, q.org_id, q.attempts, q.reprocess, q.enqueued_at
    )
    SELECT c.id, c.event_id, c.org_id, c.attempts, c.reprocess, e.received_at, e.entity_name,
           e.message_name, e.payload
    FROM claimed c LEFT JOIN webhook_events e ON e.event_id = c.event_id
    ORDER BY c.enqueued_at, c.id;
END $$;

-- Ends attempt p_attempt of item p_item_id: 'succeeded' (done), 'retrying' (waiting again, not
-- handed out before p_retry_in) or 'gave_up' (failed, listed for reprocessing). Returns false and
-- changes nothing when the attempt no longer holds the item (its lease ran out and the item was
-- returned, or handed to another worker): that attempt is already logged as abandoned.
CREATE OR REPLACE FUNCTION sync_finish(
    p_item_id      bigint,
    p_attempt      integer,
    p_outcome      text,
    p_error_class  text     DEFAULT NULL,
    p_http_status  integer  DEFAULT NULL,
    p_error_detail text     DEFAULT NULL,
    p_retry_in     interval DEFAULT '30 seconds'
) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    item sync_queue%ROWTYPE;
BEGIN
    IF p_outcome IS NULL OR p_outcome NOT IN ('succeeded', 'retrying', 'gave_up') THEN
        RAISE EXCEPTION 'sync_finish: outcome % is not one of succeeded, retrying, gave_up',
            coalesce(quote_literal(p_outcome), 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT * INTO item FROM sync_queue WHERE id = p_item_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'sync_finish: no queue item %', p_item_id USING ERRCODE = 'P0002';
    END IF;
    IF item.state <> 'processing' OR item.attempts <> p_attempt THEN
        RETURN false;
    END IF;
    -- Logged first: the safety-net trigger below then knows this give-up is already recorded.
    PERFORM sync_record_attempt(item.event_id, item.org_id, item.attempts, coalesce(item.claimed_at, now()),
        p_outcome, p_error_class, p_http_status, p_error_detail, item.claimed_by, item.id, item.reprocess);
    UPDATE sync_queue SET
        state = CASE p_outcome WHEN 'succeeded' THEN 'done' WHEN 'retrying' THEN 'pending' ELSE 'failed' END,
        visible_at = CASE WHEN p_outcome = 'retrying' THEN now() + coalesce(p_retry_in, interval '0') END,
        lease_until = NULL, updated_at = now(),
        last_error_class = sync_error_class(p_outcome, p_error_class),
        last_http_status = p_http_status,
        last_error = CASE WHEN p_outcome = 'succeeded' THEN NULL ELSE left(p_error_detail, 2000) END
    WHERE id = item.id;
    RETURN true;
END $$;

-- Hands back an item a worker claimed and has not started (a worker shutting down, or one whose
-- lease would not cover another portal call): it waits again as if never claimed, and nothing is
-- logged, for no attempt was made. False when the attempt no longer holds the item.
CREATE OR REPLACE FUNCTION sync_release(p_item_id bigint, p_attempt integer) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    UPDATE sync_queue SET state = 'pending', attempts = attempts - 1, claimed_by = NULL,
           claimed_at = NULL, lease_until = NULL, updated_at = now()
    WHERE id = p_item_id AND state = 'processing' AND attempts = p_attempt;
    RETURN FOUND;
END $$;

-- A safety net for sync services that give up on an item by writing the queue directly (as
-- `UPDATE sync_queue SET state = 'failed'`): the give-up is logged all the same, so that it
-- counts and alerts. An item marked done without a logged success is not made up as synced:
-- it stays unaccounted (docs/log-store.md).
CREATE OR REPLACE FUNCTION sync_queue_log_give_up() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sync_attempts
                   WHERE item_id = NEW.id AND queue = 'sync_queue' AND attempt = greatest(NEW.attempts, 1)
                     AND outcome = 'gave_up') THEN
        PERFORM sync_record_attempt(NEW.event_id, NEW.org_id, greatest(NEW.attempts, 1),
            coalesce(NEW.claimed_at, now()), 'gave_up', coalesce(NEW.last_error_class, 'other'),
            NEW.last_http_status, NEW.last_error, NEW.claimed_by, NEW.id, NEW.reprocess);
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS sync_queue_log_give_up ON sync_queue;
CREATE TRIGGER sync_queue_log_give_up AFTER UPDATE OF state ON sync_queue
    FOR EACH ROW WHEN (NEW.state = 'failed' AND OLD.state IS DISTINCT FROM 'failed')
    EXECUTE FUNCTION sync_queue_log_give_up();

-- SECURITY DEFINER functions run with a fixed search_path: the schema these tables were created
-- in (whatever the migration's current schema was), then the catalog.
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'sync_record_attempt(uuid, text, integer, timestamptz, text, text, integer, text, text, bigint, boolean, text)',
        'sync_claim(text, integer, interval, integer)',
        'sync_finish(bigint, integer, text, text, integer, text, interval)',
        'sync_release(bigint, integer)',
        'sync_queue_log_give_up()']
    LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %I, pg_catalog, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
END $$;
