-- SQLite's migration 014 in PostgreSQL's dialect: two reads whose cost grew with everything the
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

-- The exhaustion forecast (store/postgresql/counts.ts, flows) reads the last 7 days of pool_tally
-- on every scrape, of a table keyed by pool first that nothing pruned. The hour's index serves the
-- read, and the table keeps 8 days: a new hour's row deletes the hours older than 8 days before it,
-- or before the clock's hour when that is earlier (a skewed clock ahead cannot empty the window).
-- An AFTER INSERT row trigger fires for the rows an upsert inserted, not those it updated: once per
-- pool, length and hour. When the earlier hour is not a time (SQLite's strftime gives NULL, which
-- deletes nothing), nothing is deleted here either, rather than the lifecycle's write refused.
CREATE INDEX pool_tally_hour ON pool_tally (hour);

CREATE FUNCTION pool_tally_cut(at_hour TEXT) RETURNS TEXT LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN to_char((least(at_hour, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')) || ':00')::timestamp - interval '8 days',
    'YYYY-MM-DD"T"HH24');
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END $$;

DELETE FROM pool_tally WHERE hour < (SELECT pool_tally_cut(max(hour)) FROM pool_tally);

CREATE FUNCTION pool_tally_window() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM pool_tally WHERE hour < pool_tally_cut(NEW.hour);
  RETURN NULL;
END $$;
CREATE TRIGGER pool_tally_window AFTER INSERT ON pool_tally FOR EACH ROW EXECUTE FUNCTION pool_tally_window();
