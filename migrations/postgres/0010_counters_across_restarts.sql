-- Counters that neither an exporter restart nor a configuration change can lower.
-- See docs/log-store.md ("Counters, retention and deletes") and docs/metrics.md ("Label values").

-- Running totals of every edge_function_events row ever committed, by the labels the exits are
-- counted by, kept as webhook_event_totals is for events: one appended row per writing statement
-- and group, in the writer's transaction, folded together by the exporter. The exporter reads it
-- at start instead of counting the last 24 hours of rows, so webhook_edge_function_exits_total
-- survives restarts and retention. Never delete from it.
CREATE TABLE IF NOT EXISTS edge_function_event_totals (
    id              bigserial PRIMARY KEY,
    function_name   text      NOT NULL,
    event_type      text      NOT NULL,
    shutdown_reason text      NULL,
    count           bigint    NOT NULL
);

CREATE OR REPLACE FUNCTION edge_function_events_add_totals() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format(
        'INSERT INTO %I.edge_function_event_totals (function_name, event_type, shutdown_reason, count)
         SELECT function_name, event_type, shutdown_reason, count(*)
         FROM new_rows GROUP BY function_name, event_type, shutdown_reason',
        TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

-- Creating the trigger locks out writers until this migration commits, so the totals seeded
-- below and the ones the trigger adds afterwards cover every row exactly once.
DROP TRIGGER IF EXISTS edge_function_events_add_totals ON edge_function_events;
CREATE TRIGGER edge_function_events_add_totals AFTER INSERT ON edge_function_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION edge_function_events_add_totals();

INSERT INTO edge_function_event_totals (function_name, event_type, shutdown_reason, count)
SELECT function_name, event_type, shutdown_reason, count(*)
FROM edge_function_events
WHERE NOT EXISTS (SELECT 1 FROM edge_function_event_totals)
GROUP BY function_name, event_type, shutdown_reason;

-- What org="_unknown" had counted of an organization's payloads when the org was last configured
-- (inserted active, or set active): `_unknown` keeps them, so its counter never goes down; the
-- org's own counter starts with its whole history. Kept by the organizations trigger below; an
-- org no longer configured loses its row (its payloads are all `_unknown`'s again).
CREATE TABLE IF NOT EXISTS webhook_unknown_carry (
    org_id   text   PRIMARY KEY,
    received bigint NOT NULL
);
-- Orgs configured before this migration were never counted under `_unknown`.
INSERT INTO webhook_unknown_carry (org_id, received)
SELECT org_id, 0 FROM organizations WHERE active ON CONFLICT DO NOTHING;

-- Migration 0006's mark, and the carries. Taking a carry locks webhook_events against writers
-- (SHARE) until the configuring transaction ends: every row committed before it is in the carry,
-- and none commits while it is open, so whatever snapshot an exporter read `_unknown` in, the
-- carry is at least what it counted. Statements that configure no org take no lock.
CREATE OR REPLACE FUNCTION webhook_organizations_count_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    uncarried boolean;
BEGIN
    EXECUTE format('UPDATE %I.webhook_organization_changes SET statements = statements + 1', TG_TABLE_SCHEMA);
    EXECUTE format(
        'DELETE FROM %1$I.webhook_unknown_carry c
         WHERE NOT EXISTS (SELECT 1 FROM %1$I.organizations o WHERE o.org_id = c.org_id AND o.active)',
        TG_TABLE_SCHEMA);
    EXECUTE format(
        'SELECT EXISTS (SELECT 1 FROM %1$I.organizations o WHERE o.active
                        AND NOT EXISTS (SELECT 1 FROM %1$I.webhook_unknown_carry c WHERE c.org_id = o.org_id))',
        TG_TABLE_SCHEMA) INTO uncarried;
    IF uncarried THEN
        EXECUTE format('LOCK TABLE %I.webhook_events IN SHARE MODE', TG_TABLE_SCHEMA);
        EXECUTE format(
            'INSERT INTO %1$I.webhook_unknown_carry (org_id, received)
             SELECT o.org_id, coalesce((SELECT sum(t.count) FROM %1$I.webhook_event_totals t
                                        WHERE t.org_id = o.org_id), 0)
             FROM %1$I.organizations o
             WHERE o.active AND NOT EXISTS (SELECT 1 FROM %1$I.webhook_unknown_carry c WHERE c.org_id = o.org_id)
             ON CONFLICT (org_id) DO NOTHING',
            TG_TABLE_SCHEMA);
    END IF;
    RETURN NULL;
END $$;
