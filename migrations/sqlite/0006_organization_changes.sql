-- A mark that moves whenever the organizations table is written, so the exporter re-reads the
-- organizations only when they changed. See docs/log-store.md ("Organizations").
CREATE TABLE IF NOT EXISTS webhook_organization_changes (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    statements INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO webhook_organization_changes (singleton, statements) VALUES (1, 0);

-- Per row (SQLite has no statement triggers); the exporter only compares the number.
CREATE TRIGGER IF NOT EXISTS webhook_organizations_count_inserts AFTER INSERT ON organizations
BEGIN
    UPDATE webhook_organization_changes SET statements = statements + 1;
END;
CREATE TRIGGER IF NOT EXISTS webhook_organizations_count_updates AFTER UPDATE ON organizations
BEGIN
    UPDATE webhook_organization_changes SET statements = statements + 1;
END;
CREATE TRIGGER IF NOT EXISTS webhook_organizations_count_deletes AFTER DELETE ON organizations
BEGIN
    UPDATE webhook_organization_changes SET statements = statements + 1;
END;
