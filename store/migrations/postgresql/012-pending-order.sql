-- As SQLite migration 021: the pending worker's keyset on (next_pending_at, id), a page at a time.
DROP INDEX lifecycles_next_pending;
CREATE INDEX lifecycles_next_pending ON lifecycles (next_pending_at, id) WHERE next_pending_at IS NOT NULL;
