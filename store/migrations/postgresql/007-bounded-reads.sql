-- SQLite's migration 014 in PostgreSQL's dialect: reads whose cost grew with everything the
-- service ever stored.

-- GET /lifecycle?state=&pool= read every row of the pool, or of the state, to keep those matching
-- the other filter. (pool, state, created_at, id) seeks on both in either direction. It replaces
-- the pool's index rather than joining it: a transition changes state, an indexed column, so every
-- index of the table takes an entry on it (no HOT update), and another index would add one to every
-- insert and transition. The pool alone is read one leg per state (store/postgresql/lifecycles.ts,
-- pgListQuery), which is every row only if every state is one of the machine's
-- (machines/types.ts LIFECYCLE_STATES): from here the database refuses any other, as SQLite's
-- migration 013 does. A stored row of another state stops this migration rather than vanish from
-- the lists.
ALTER TABLE lifecycles ADD CONSTRAINT lifecycles_known_state
  CHECK (state IN ('pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed'));
DROP INDEX lifecycles_pool;
CREATE INDEX lifecycles_pool ON lifecycles (pool, state, created_at, id);

