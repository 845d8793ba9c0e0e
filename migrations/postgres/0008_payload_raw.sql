-- The body's bytes as received, for a payload that `payload` (jsonb) cannot hold exactly: not
-- UTF-8, not a JSON object, or JSON with \u0000 or a lone surrogate escape (jsonb refuses both).
-- At most one of payload / payload_raw is set; existing columns keep their meaning.
-- See docs/log-store.md ("webhook_events").
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS payload_raw bytea NULL;
