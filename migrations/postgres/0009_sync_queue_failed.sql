-- The reprocessing API lists and selects the items the sync service gave up on (GET
-- /api/v1/events?stage=sync): found by this index instead of a scan of every item ever queued.
CREATE INDEX IF NOT EXISTS sync_queue_failed ON sync_queue (event_id) WHERE state = 'failed';
