-- Bulk history for the benchmark, set-based (generate_series), deterministic (hashes of the row
-- number, not random()). Run with psql on a freshly migrated database:
--   psql -v events=1000000 -v orgs=1000 -v days=30 -v chunk=1000000 -f bench/load.sql URL
--
-- Shape: :events payloads evenly spread over the last :days days, ending now, across :orgs orgs
-- (mildly skewed: the busiest org gets ~2.5x the median); ~97% accepted, 2.75% rejected over the
-- reason vocabulary with the status codes the endpoint answers them with (plus an
-- out-of-vocabulary reason and invalid_auth), 0.2% failed (500/502/503/504), 0.01% from org ids
-- that are not configured (counted under org="_unknown"). Payload bodies are not stored inline
-- (payload_ref only): narrow rows favour the SQL-exporter side of the comparison. The sync
-- service's attempt log (one success per accepted payload, some retries and give-ups) and the
-- queue items of the last 3 days follow the payloads (see below).
-- Loaded in chunks of :chunk rows, one transaction each, so tx_id varies as in production.

\set ON_ERROR_STOP on
\timing on

-- One anchor for all chunks: each chunk runs in its own transaction, with its own now().
SELECT now() AS t0 \gset

INSERT INTO organizations (org_id, display_name, endpoint_url, endpoint_url_changed_at, created_at)
SELECT format('org-%s', lpad(o::text, 4, '0')),
       format('Organization %s', o),
       format('https://edge.example.com/functions/v1/dynamics-webhook?org=org-%s', lpad(o::text, 4, '0')),
       now() - interval '90 days' + (o % 60) * interval '1 day',
       now() - interval '180 days'
FROM generate_series(0, :orgs - 1) AS o;

-- One INSERT per chunk, each in its own transaction (psql autocommit + \gexec).
SELECT format($q$
INSERT INTO webhook_events (event_id, org_id, received_at, outcome, http_status, rejection_reason,
                            error_detail, correlation_id, entity_name, message_name, payload_ref)
SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
       CASE WHEN p >= 99990 THEN 'retired-' || (i %% 7)
            ELSE format('org-%%s', lpad(floor(%2$s * power(o_u, 1.4))::int::text, 4, '0')) END,
       %6$L::timestamptz - %3$s * interval '1 day' * (1 - i::float8 / %4$s),
       o.outcome, o.status, o.reason,
       CASE WHEN o.outcome = 'rejected' THEN 'rejected: ' || coalesce(o.reason, 'unknown')
            WHEN o.outcome = 'failed' THEN 'handing off to the sync queue failed' END,
       'corr-' || i,
       (ARRAY['account', 'contact', 'incident', 'opportunity'])[1 + i %% 4],
       (ARRAY['Create', 'Update', 'Delete'])[1 + i %% 3],
       'payloads/' || i
FROM generate_series(%1$s, least(%1$s + %5$s - 1, %4$s)) AS i
CROSS JOIN LATERAL (SELECT abs(hashint8(i * 7 + 3)) %% 100000 AS p,
                           (abs(hashint8(i)) %% 1000000) / 1000000.0 AS o_u) AS h
CROSS JOIN LATERAL (
  SELECT * FROM (VALUES
    (    0,  1200, 'rejected', 400, 'invalid_payload'),
    ( 1200,  1600, 'rejected', 413, 'payload_too_large'),
    ( 1600,  1900, 'rejected', 422, 'unsupported_event'),
    ( 1900,  2200, 'rejected', 409, 'duplicate'),
    ( 2200,  2400, 'rejected', 429, 'rate_limited'),
    ( 2400,  2500, 'rejected', 401, 'missing_auth'),
    ( 2500,  2600, 'rejected', 500, 'internal_error'),
    ( 2600,  2700, 'rejected', 404, 'unknown_organization'),
    ( 2700,  2750, 'rejected', 403, 'geo_blocked'),
    ( 2750,  3000, 'rejected', 401, 'invalid_auth'),
    ( 3000,  3050, 'failed',   500, NULL),
    ( 3050,  3100, 'failed',   502, NULL),
    ( 3100,  3150, 'failed',   503, NULL),
    ( 3150,  3200, 'failed',   504, NULL),
    ( 3200, 100000, 'accepted', 200, NULL)
  ) AS v(lo, hi, outcome, status, reason)
  WHERE (p %% 100000) >= v.lo AND (p %% 100000) < v.hi AND p < 99990
  UNION ALL
  SELECT 0, 0, 'rejected', 404, 'unknown_organization' WHERE p >= 99990
) AS o
$q$, s, :orgs, :days, :events, :chunk, :'t0')
FROM generate_series(1, :events, :chunk) AS s
\gexec

-- The sync service (migration 0007). What became of each accepted payload, deterministically from
-- its row id: received in the last 5 minutes, still waiting (1 in 20 of those in flight, claimed
-- with a long lease, no attempt logged yet); otherwise synced, 1.5% after a first attempt that
-- failed (retrying, or abandoned when its worker was lost), and 0.1% given up (at once on a
-- portal_rejected / invalid_data answer, or after 5 attempts on portal_unavailable / timeout).
-- Attempts start 0.5-30 s after the payload arrived (1 in 20 waits up to 3 more minutes), take
-- 0.1-2 s, and a retry comes 30 s after the failed attempt: every attempt finishes before the load's
-- moment, so no accepted payload is unaccounted for (the exporter's
-- webhook_sync_window_events_unaccounted is absent; bench/run.py checks it with SQL).
CREATE FUNCTION pg_temp.sync_fate(i bigint, received timestamptz, t0 timestamptz) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN received > t0 - interval '5 minutes' THEN
            CASE WHEN abs(hashint8(i * 13 + 1)) % 20 = 0 THEN 'processing' ELSE 'pending' END
        WHEN abs(hashint8(i * 13 + 1)) % 10000 < 10 THEN 'gave_up'
        WHEN abs(hashint8(i * 13 + 1)) % 10000 < 160 THEN 'retried'
        ELSE 'synced' END
$$;

-- The attempts logged for accepted payload i, in the vocabulary of sync_record_attempt().
CREATE FUNCTION pg_temp.sync_attempts_of(i bigint, received timestamptz, t0 timestamptz)
RETURNS TABLE (attempt integer, outcome text, error_class text, http_status integer,
               started_at timestamptz, finished_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT a.n, a.outcome, a.class, a.status,
           received + w.wait + (a.n - 1) * interval '32 seconds',
           received + w.wait + (a.n - 1) * interval '32 seconds' + w.took
    FROM (SELECT pg_temp.sync_fate(i, received, t0) AS fate, abs(hashint8(i * 17 + 2)) AS h) AS f
    CROSS JOIN LATERAL (SELECT
        make_interval(secs => 0.5 + (f.h % 3000) / 100.0
                              + CASE WHEN f.fate <> 'gave_up' AND f.h % 20 = 0 THEN f.h % 180 ELSE 0 END) AS wait,
        make_interval(secs => 0.1 + (f.h % 1900) / 1000.0) AS took) AS w
    CROSS JOIN LATERAL (
        SELECT 1, 'succeeded', NULL::text, NULL::integer WHERE f.fate = 'synced'
        UNION ALL
        SELECT 1, r.outcome, r.class, r.status
        FROM (VALUES (0, 'retrying', 'portal_unavailable', 503), (1, 'retrying', 'portal_unavailable', 502),
                     (2, 'retrying', 'timeout', NULL), (3, 'retrying', 'conflict', 409),
                     (4, 'retrying', 'portal_auth', 401), (5, 'retrying', 'internal', 500),
                     (6, 'abandoned', 'worker_lost', NULL)) AS r(k, outcome, class, status)
        WHERE f.fate = 'retried' AND r.k = f.h / 7 % 7
        UNION ALL
        SELECT 2, 'succeeded', NULL, NULL WHERE f.fate = 'retried'
        UNION ALL
        SELECT 1, 'gave_up', CASE WHEN f.h % 4 = 0 THEN 'portal_rejected' ELSE 'invalid_data' END,
               CASE WHEN f.h % 4 = 0 THEN 400 ELSE 422 END
        WHERE f.fate = 'gave_up' AND f.h % 2 = 0
        UNION ALL
        SELECT k, CASE WHEN k < 5 THEN 'retrying' ELSE 'gave_up' END,
               CASE WHEN f.h % 4 = 1 THEN 'portal_unavailable' ELSE 'timeout' END,
               CASE WHEN f.h % 4 = 1 THEN 503 END
        FROM generate_series(1, 5) AS k WHERE f.fate = 'gave_up' AND f.h % 2 = 1
    ) AS a(n, outcome, class, status)
$$;

-- The attempt log, one chunk of events per transaction as the events were, bulk INSERT through the
-- table so that the statement trigger keeps sync_attempt_totals as it does in production. received_at
-- is copied from the event as sync_record_attempt() does; item_id is the queue item, which the queue
-- below keeps for the last 3 days only (older items were cleaned up).
SELECT format($q$
INSERT INTO sync_attempts (event_id, org_id, queue, item_id, attempt, reprocess, worker, received_at,
                           started_at, finished_at, outcome, error_class, http_status, error_detail)
SELECT e.event_id, e.org_id, 'sync_queue', e.id, a.attempt, false, 'sync-worker-' || (e.id %% 4),
       e.received_at, a.started_at, a.finished_at, a.outcome, a.error_class, a.http_status,
       CASE WHEN a.outcome <> 'succeeded'
            THEN 'portal answered ' || coalesce(a.http_status::text, 'nothing in time') END
FROM webhook_events e
CROSS JOIN LATERAL pg_temp.sync_attempts_of(e.id, e.received_at, %3$L::timestamptz) AS a
WHERE e.id BETWEEN %1$s AND %1$s + %2$s - 1 AND e.outcome = 'accepted'
$q$, s, :chunk, :'t0')
FROM generate_series(1, :events, :chunk) AS s
\gexec

-- The sync queue: the items of the last 3 days' accepted payloads (item id = event row id), in the
-- state their attempts left them; org-0007 has a stuck backlog of 2,000 older items, some of them
-- reprocess requests.
INSERT INTO sync_queue (id, org_id, event_id, state, enqueued_at, updated_at, attempts, claimed_by,
                        claimed_at, lease_until, last_error_class, last_http_status, last_error)
SELECT e.id, e.org_id, e.event_id, q.state, e.received_at,
       coalesce(l.finished_at, e.received_at + interval '1 second'),
       CASE q.state WHEN 'pending' THEN 0 WHEN 'processing' THEN 1 ELSE l.attempt END,
       CASE WHEN q.state <> 'pending' THEN 'sync-worker-' || (e.id % 4) END,
       CASE WHEN q.state = 'processing' THEN e.received_at + interval '1 second' ELSE l.started_at END,
       CASE WHEN q.state = 'processing' THEN :'t0'::timestamptz + interval '1 hour' END,
       l.error_class, l.http_status,
       CASE WHEN l.outcome = 'gave_up' THEN 'portal answered ' || coalesce(l.http_status::text, 'nothing in time') END
FROM webhook_events e
CROSS JOIN LATERAL (SELECT CASE pg_temp.sync_fate(e.id, e.received_at, :'t0')
                               WHEN 'gave_up' THEN 'failed' WHEN 'pending' THEN 'pending'
                               WHEN 'processing' THEN 'processing' ELSE 'done' END AS state) AS q
LEFT JOIN LATERAL (SELECT * FROM pg_temp.sync_attempts_of(e.id, e.received_at, :'t0')
                   ORDER BY attempt DESC LIMIT 1) AS l ON true
WHERE e.outcome = 'accepted' AND e.received_at > :'t0'::timestamptz - interval '3 days';
SELECT setval('sync_queue_id_seq', (SELECT max(id) FROM sync_queue));

INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, attempts, reprocess,
                        reprocess_request_id, requested_by)
SELECT 'org-0007', ('00000000-0000-4000-9000-' || lpad(to_hex(k), 12, '0'))::uuid, 'pending',
       now() - interval '6 hours' + k * interval '10 seconds', now(), 0,
       k % 10 = 0,
       CASE WHEN k % 10 = 0 THEN ('00000000-0000-4000-a000-' || lpad(to_hex(k), 12, '0'))::uuid END,
       CASE WHEN k % 10 = 0 THEN 'ops@example.com' END
FROM generate_series(1, 2000) AS k;

-- Edge Function lifecycle: a worker boot and retirement every 5 minutes for :days days, and a
-- rare error exit.
INSERT INTO edge_function_events (occurred_at, function_name, event_type, shutdown_reason, detail)
SELECT now() - :days * interval '1 day' + k * interval '5 minutes' + e.offs,
       'dynamics-webhook', e.event_type,
       CASE WHEN e.event_type <> 'Shutdown' THEN NULL
            WHEN k % 997 = 0 THEN 'WallClockTime'
            WHEN k % 1499 = 0 THEN 'Memory'
            WHEN k % 2 = 0 THEN 'EarlyDrop' ELSE 'EventLoopCompleted' END,
       CASE WHEN e.event_type = 'Boot' THEN 'worker booted' ELSE 'worker retired' END
FROM generate_series(0, :days * 288 - 1) AS k
CROSS JOIN (VALUES ('Boot', interval '0'), ('Shutdown', interval '4 minutes')) AS e(event_type, offs);

-- What autovacuum would have done by the time anyone scrapes months of history: hint bits,
-- visibility map, statistics. Without it the first reader of each page pays for it.
VACUUM (ANALYZE) organizations, webhook_events, sync_queue, edge_function_events, sync_attempts,
                 sync_attempt_totals;
