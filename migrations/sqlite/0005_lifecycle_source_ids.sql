-- Lifecycle events ingested by the exporter carry their source and the id that source gave them,
-- unique together, so that a batch sent again inserts nothing twice (embedded SQLite flavour; see
-- migrations/postgres/0005_lifecycle_source_ids.sql). NULLs (other writers' rows) never conflict.
ALTER TABLE edge_function_events ADD COLUMN source TEXT NULL;
ALTER TABLE edge_function_events ADD COLUMN source_event_id TEXT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS edge_function_events_source_event
    ON edge_function_events (source, source_event_id);
