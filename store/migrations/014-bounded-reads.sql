-- Review 7: two reads whose cost grew with everything the service ever stored.

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

-- The exhaustion forecast (store/counts.ts, flows) reads the last 7 days of pool_tally on every
-- scrape, but asked `hour >= ?` of a table keyed by pool first: a scan of every hour ever tallied,
-- as nothing deleted any. The hour's index makes that read a seek, and the table keeps 8 days (one
-- of margin, as migration 006's seed): a new hour's row deletes the hours older than 8 days before
-- it. An hour is a new row once per pool, length and hour (the upsert's update path does not fire
-- this, nor touch the hour's index): no cost to the allocations within an hour. The cut is 8 days
-- before the new row's hour, or before the clock's when that is earlier: a time ahead of the clock
-- (an instance's skewed clock) cannot empty the window the forecast reads, and rows tallied for
-- past hours (an import) keep the week before them.
CREATE INDEX pool_tally_hour ON pool_tally (hour);
DELETE FROM pool_tally
WHERE hour < (SELECT strftime('%Y-%m-%dT%H', min(max(hour), strftime('%Y-%m-%dT%H', 'now')) || ':00', '-8 days') FROM pool_tally);
CREATE TRIGGER pool_tally_window AFTER INSERT ON pool_tally BEGIN
  DELETE FROM pool_tally WHERE hour < strftime('%Y-%m-%dT%H', min(NEW.hour, strftime('%Y-%m-%dT%H', 'now')) || ':00', '-8 days');
END;
