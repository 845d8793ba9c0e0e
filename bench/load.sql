-- Bulk history for the benchmark, set-based (generate_series), deterministic (hashes of the row
-- number, not random()). Run with psql on a freshly migrated database:
--   psql -v events=1000000 -v orgs=1000 -v days=30 -v chunk=1000000 -f bench/load.sql URL
--
-- Shape: :events payloads evenly spread over the last :days days, ending now, across :orgs orgs
-- (mildly skewed: the busiest org gets ~2.5x the median); ~97% accepted, 2.75% rejected over the
-- reason vocabulary with the status codes the endpoint answers them with (plus an
-- out-of-vocabulary reason and invalid_auth), 0.2% failed (500/502/503/504), 0.01% from org ids
-- that are not configured (counted under org="_unknown"). Payload bodies are not stored inline
-- (payload_ref only): narrow rows favour the SQL-exporter side of the comparison.
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

-- The sync queue: accepted payloads of the last 3 days were handed off (all worked off), those of
-- the last 5 minutes are still pending; org-0007 has a stuck backlog of 2,000 older items, some of
-- them reprocess requests.
INSERT INTO sync_queue (org_id, event_id, state, enqueued_at, updated_at, attempts)
SELECT org_id, event_id,
       CASE WHEN received_at > now() - interval '5 minutes' THEN 'pending' ELSE 'done' END,
       received_at, received_at + interval '2 seconds',
       CASE WHEN received_at > now() - interval '5 minutes' THEN 0 ELSE 1 END
FROM webhook_events
WHERE outcome = 'accepted' AND received_at > now() - interval '3 days';

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
VACUUM (ANALYZE) organizations, webhook_events, sync_queue, edge_function_events;
