-- The body's bytes as received, for a payload that `payload` cannot hold exactly (see the
-- PostgreSQL migration of the same number and docs/log-store.md, "webhook_events").
ALTER TABLE webhook_events ADD COLUMN payload_raw BLOB NULL;
