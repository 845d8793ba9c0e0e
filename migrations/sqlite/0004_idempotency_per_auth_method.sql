-- An Idempotency-Key belongs to a caller: a principal *and* how it authenticated. A JWT whose
-- `sub` equals an API token's principal name is another caller and must not replay (or block)
-- that token's requests.
DROP INDEX IF EXISTS reprocess_requests_idempotency;
CREATE UNIQUE INDEX IF NOT EXISTS reprocess_requests_idempotency
    ON reprocess_requests (principal, auth_method, idempotency_key) WHERE status = 'completed';
