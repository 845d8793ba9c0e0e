-- One steady-state round of the benchmark, one statement (one transaction): $3 new payloads over
-- $2 organizations (the org drawn by hashing the row number plus the salt $1; ~3% rejected as
-- invalid_auth, 0.2% failed), and $3 new sync-attempt rows for them, so that the attempt log grows
-- at the same rate as webhook_events. Every accepted payload gets its final attempt (succeeded;
-- 1 in 487 given up on the portal's 400), and the $3 - accepted remaining attempts are retries
-- (portal_unavailable 503) spread evenly before some of the successes. The sync service keeps up:
-- a payload and its attempts commit together, so the exporter reads both in one refresh and no
-- accepted payload is ever unaccounted for. Used by bench/run.py (PREPARE) and
-- examples/bench_encode.rs (include_str!): parameters bigint, integer, integer.
WITH ev AS (
    INSERT INTO webhook_events (event_id, org_id, outcome, http_status, rejection_reason)
    SELECT gen_random_uuid(),
           format('org-%s', lpad((abs(hashint8(g + $1)) % $2)::text, 4, '0')),
           CASE WHEN g % 33 = 0 THEN 'rejected' WHEN g % 500 = 1 THEN 'failed' ELSE 'accepted' END,
           CASE WHEN g % 33 = 0 THEN 401 WHEN g % 500 = 1 THEN 503 ELSE 200 END,
           CASE WHEN g % 33 = 0 THEN 'invalid_auth' END
    FROM generate_series(1, $3) AS g
    RETURNING event_id, org_id, received_at, outcome
), accepted AS (
    SELECT event_id, org_id, received_at,
           row_number() OVER (ORDER BY event_id) AS k, count(*) OVER () AS n
    FROM ev WHERE outcome = 'accepted'
)
INSERT INTO sync_attempts (event_id, org_id, attempt, worker, received_at, started_at, finished_at,
                           outcome, error_class, http_status, error_detail)
SELECT a.event_id, a.org_id, t.attempt, 'bench-worker', a.received_at, now(), now(),
       t.outcome, t.error_class, t.http_status, t.detail
FROM accepted AS a
CROSS JOIN LATERAL (
    -- A retry before this payload's final attempt when the running count of retries steps up.
    SELECT ((k * ($3 - n)) / n > ((k - 1) * ($3 - n)) / n) AS retried, k % 487 = 0 AS gave_up
) AS p
CROSS JOIN LATERAL (
    SELECT 1 AS attempt, 'retrying' AS outcome, 'portal_unavailable' AS error_class, 503 AS http_status,
           'portal answered 503' AS detail
    WHERE p.retried
    UNION ALL
    SELECT CASE WHEN p.retried THEN 2 ELSE 1 END,
           CASE WHEN p.gave_up THEN 'gave_up' ELSE 'succeeded' END,
           CASE WHEN p.gave_up THEN 'portal_rejected' END,
           CASE WHEN p.gave_up THEN 400 END,
           CASE WHEN p.gave_up THEN 'portal answered 400' END
) AS t
