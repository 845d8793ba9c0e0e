-- A mark that moves whenever the organizations table is written, so the exporter re-reads the
-- organizations only when they changed (a thousand rows on every scrape was a measurable share of
-- a refresh: BENCHMARKS.md). See docs/log-store.md ("Organizations").
CREATE TABLE IF NOT EXISTS webhook_organization_changes (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    statements bigint  NOT NULL DEFAULT 0
);
INSERT INTO webhook_organization_changes (singleton, statements) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- SECURITY DEFINER: whoever manages organizations needs no privilege on the exporter's table.
CREATE OR REPLACE FUNCTION webhook_organizations_count_changes() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    EXECUTE format('UPDATE %I.webhook_organization_changes SET statements = statements + 1', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS webhook_organizations_count_changes ON organizations;
CREATE TRIGGER webhook_organizations_count_changes AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_organizations_count_changes();
