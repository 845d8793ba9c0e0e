-- Counters that neither an exporter restart nor a configuration change can lower (embedded SQLite
-- flavour; see migrations/postgres/0010_counters_across_restarts.sql and docs/log-store.md).

-- Edge Function lifecycle totals, one row per group ('' for no shutdown reason: a primary key
-- column cannot hold NULL).
CREATE TABLE IF NOT EXISTS edge_function_event_totals (
    function_name   TEXT    NOT NULL,
    event_type      TEXT    NOT NULL,
    shutdown_reason TEXT    NOT NULL,
    count           INTEGER NOT NULL,
    PRIMARY KEY (function_name, event_type, shutdown_reason)
);

INSERT OR IGNORE INTO edge_function_event_totals (function_name, event_type, shutdown_reason, count)
SELECT function_name, event_type, coalesce(shutdown_reason, ''), count(*)
FROM edge_function_events GROUP BY function_name, event_type, coalesce(shutdown_reason, '');

CREATE TRIGGER IF NOT EXISTS edge_function_events_add_totals AFTER INSERT ON edge_function_events
BEGIN
    INSERT INTO edge_function_event_totals (function_name, event_type, shutdown_reason, count)
    VALUES (NEW.function_name, NEW.event_type, coalesce(NEW.shutdown_reason, ''), 1)
    ON CONFLICT (function_name, event_type, shutdown_reason) DO UPDATE SET count = count + 1;
END;

-- What org="_unknown" had counted of an organization's payloads when the org was last configured.
-- SQLite has one writer at a time: no lock is needed for the carry to hold every committed row.
CREATE TABLE IF NOT EXISTS webhook_unknown_carry (
    org_id   TEXT    PRIMARY KEY,
    received INTEGER NOT NULL
);
INSERT OR IGNORE INTO webhook_unknown_carry (org_id, received) SELECT org_id, 0 FROM organizations WHERE active;

-- Kept when migration 0006's mark moves, which its triggers do after every insert, update or
-- delete of organizations: one body for the three (the work is on the whole set, idempotent). No
-- INSERT OR IGNORE: an outer upsert's conflict policy would override it.
CREATE TRIGGER IF NOT EXISTS webhook_unknown_carry_keep AFTER UPDATE ON webhook_organization_changes
BEGIN
    DELETE FROM webhook_unknown_carry
    WHERE org_id NOT IN (SELECT org_id FROM organizations WHERE active);
    INSERT INTO webhook_unknown_carry (org_id, received)
    SELECT o.org_id, coalesce((SELECT sum(t.count) FROM webhook_event_totals t WHERE t.org_id = o.org_id), 0)
    FROM organizations o
    WHERE o.active AND NOT EXISTS (SELECT 1 FROM webhook_unknown_carry c WHERE c.org_id = o.org_id);
END;
