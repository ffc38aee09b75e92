-- Review 7: reads whose cost grew with everything the service ever stored.

-- GET /lifecycle?state=&pool= read every row of the pool (lifecycles_pool was (pool, created_at, id))
-- to keep the ones of the state: revoked lifecycles stay retention_days, so a poll for a pool's
-- failed ones read its whole history to answer []. (pool, state, created_at, id) seeks on both in
-- either direction. It replaces the pool's index rather than joining it: the upsert of every write
-- sets both columns, so it maintains the same number of index entries as before (another index
-- would add one per insert and per transition). The pool alone is read as the list without a
-- filter is (store/lifecycles.ts, listSql): one leg per state, merged in (created_at, id) order,
-- every row's state being one of them (migration 013's triggers). The pools' own reads
-- (store/pool-use.ts) seek on its first column as before.
DROP INDEX lifecycles_pool;
CREATE INDEX lifecycles_pool ON lifecycles (pool, state, created_at, id);

