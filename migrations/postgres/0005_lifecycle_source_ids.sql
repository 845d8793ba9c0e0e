-- Lifecycle events ingested by the exporter (POST /api/v1/lifecycle/*) carry where they came
-- from and the id that source gave them, so that a batch sent again (a drain or an event worker
-- retrying after a timeout) inserts nothing twice: INSERT ... ON CONFLICT DO NOTHING on this
-- unique index. Rows written by other writers leave both NULL, and NULLs never conflict.
ALTER TABLE edge_function_events
    ADD COLUMN IF NOT EXISTS source          text NULL,
    ADD COLUMN IF NOT EXISTS source_event_id text NULL;
CREATE UNIQUE INDEX IF NOT EXISTS edge_function_events_source_event
    ON edge_function_events (source, source_event_id);
