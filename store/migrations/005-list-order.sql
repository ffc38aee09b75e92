-- Lists page in creation order, keyed by (created_at, id): lifecycle ids are time-ordered (UUIDv7)
-- from now on, but the v4 ids stored before are not, so the id alone cannot be the order. Each
-- index serves one filter of the list (none, state, pool) in either direction without a sort.
DROP INDEX lifecycles_state;
DROP INDEX lifecycles_pool;
CREATE INDEX lifecycles_created ON lifecycles (created_at, id);
CREATE INDEX lifecycles_state ON lifecycles (state, created_at, id);
CREATE INDEX lifecycles_pool ON lifecycles (pool, created_at, id);
