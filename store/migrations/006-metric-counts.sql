-- Figures that /metrics reads on every scrape, kept by triggers in the transaction of each lifecycle
-- write, so that a scrape reads a few rows instead of counting a million (issue 9). Self-contained:
-- nothing outside this file writes these tables, except prefix_leaks (runtime/leak-counter.ts).

-- Keys: `state:<state>` (lifecycles in that state), `pending` (next_pending_at set), `shared`
-- (prefixes that more than one live lifecycle shows), `leaks` (prefix_leaks counted).
CREATE TABLE lifecycle_counts (
  key TEXT PRIMARY KEY,
  n   INTEGER NOT NULL
) WITHOUT ROWID;

-- How many live (not revoked) lifecycles show each prefix: the `shared` count follows its n > 1.
CREATE TABLE live_prefixes (
  prefix TEXT PRIMARY KEY,
  n      INTEGER NOT NULL
) WITHOUT ROWID;

-- Lifecycles that got their first prefix, and lifecycles revoked, per pool, hour (`2026-12-01T13`)
-- and delegated length: the exhaustion forecast reads the last 7 days (168 rows per pool and length).
CREATE TABLE pool_tally (
  pool          TEXT NOT NULL,
  hour          TEXT NOT NULL,
  prefix_length INTEGER NOT NULL,
  allocated     INTEGER NOT NULL DEFAULT 0,
  revoked       INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (pool, hour, prefix_length)
) WITHOUT ROWID;

-- Prefixes counted in ipv6_prefix_leak_total: stored so that each is counted once, restarts included.
-- first_seen_at: when a leak check first saw it unreturned; counted_at: when it passed leak_after_s.
CREATE TABLE prefix_leaks (
  lifecycle_id  TEXT NOT NULL,
  prefix        TEXT NOT NULL,
  pool          TEXT NOT NULL,
  first_seen_at TEXT NOT NULL,
  counted_at    TEXT,
  PRIMARY KEY (lifecycle_id, prefix)
) WITHOUT ROWID;

-- Seed from what is stored already; every public state and figure has its row, so the triggers
-- below only ever update rows in place.
INSERT INTO lifecycle_counts (key, n) VALUES
  ('state:pending', 0), ('state:allocated', 0), ('state:active', 0), ('state:suspended', 0),
  ('state:revoking', 0), ('state:revoked', 0), ('state:failed', 0), ('pending', 0), ('shared', 0), ('leaks', 0);
INSERT INTO lifecycle_counts (key, n) SELECT 'state:' || state, count(*) FROM lifecycles WHERE true GROUP BY state
  ON CONFLICT (key) DO UPDATE SET n = excluded.n;
UPDATE lifecycle_counts SET n = (SELECT count(*) FROM lifecycles WHERE next_pending_at IS NOT NULL) WHERE key = 'pending';
INSERT INTO live_prefixes (prefix, n)
  SELECT prefix, count(*) FROM lifecycles WHERE state <> 'revoked' AND prefix IS NOT NULL GROUP BY prefix;
UPDATE lifecycle_counts SET n = (SELECT count(*) FROM live_prefixes WHERE n > 1) WHERE key = 'shared';
INSERT INTO pool_tally (pool, hour, prefix_length, allocated)
  SELECT pool, substr(allocated_at, 1, 13), prefix_length, count(*) FROM lifecycles
  WHERE allocated_at IS NOT NULL AND allocated_at >= strftime('%Y-%m-%dT%H', 'now', '-8 days')
  GROUP BY 1, 2, 3;
INSERT INTO pool_tally (pool, hour, prefix_length, revoked)
  SELECT pool, substr(revoked_at, 1, 13), prefix_length, count(*) FROM lifecycles
  WHERE state = 'revoked' AND allocated_at IS NOT NULL AND revoked_at >= strftime('%Y-%m-%dT%H', 'now', '-8 days')
  GROUP BY 1, 2, 3
  ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET revoked = excluded.revoked;

-- A lifecycle enters the table (the upsert's insert path).
CREATE TRIGGER lifecycle_counts_insert AFTER INSERT ON lifecycles BEGIN
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'state:' || NEW.state;
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'pending' AND NEW.next_pending_at IS NOT NULL;
  INSERT INTO live_prefixes (prefix, n) SELECT NEW.prefix, 1 WHERE NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    ON CONFLICT (prefix) DO UPDATE SET n = n + 1;
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'shared' AND NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    AND (SELECT n FROM live_prefixes WHERE prefix = NEW.prefix) = 2;
  INSERT INTO pool_tally (pool, hour, prefix_length, allocated)
    SELECT NEW.pool, substr(NEW.allocated_at, 1, 13), NEW.prefix_length, 1 WHERE NEW.allocated_at IS NOT NULL
    ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET allocated = allocated + 1;
END;

-- The upsert's update path: only the columns the figures read. A state change is the common case
-- (the cost of every transition): one statement, two rows updated in place.
CREATE TRIGGER lifecycle_counts_state AFTER UPDATE OF state ON lifecycles WHEN OLD.state IS NOT NEW.state BEGIN
  UPDATE lifecycle_counts SET n = n + (CASE WHEN key = 'state:' || NEW.state THEN 1 ELSE -1 END)
    WHERE key IN ('state:' || OLD.state, 'state:' || NEW.state);
END;

CREATE TRIGGER lifecycle_counts_revoked AFTER UPDATE OF state ON lifecycles
WHEN NEW.state = 'revoked' AND OLD.state <> 'revoked' AND NEW.allocated_at IS NOT NULL BEGIN
  INSERT INTO pool_tally (pool, hour, prefix_length, revoked)
    VALUES (NEW.pool, substr(coalesce(NEW.revoked_at, NEW.updated_at), 1, 13), NEW.prefix_length, 1)
    ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET revoked = revoked + 1;
END;

CREATE TRIGGER lifecycle_counts_pending AFTER UPDATE OF next_pending_at ON lifecycles
WHEN (OLD.next_pending_at IS NULL) <> (NEW.next_pending_at IS NULL) BEGIN
  UPDATE lifecycle_counts SET n = n + (CASE WHEN NEW.next_pending_at IS NULL THEN -1 ELSE 1 END) WHERE key = 'pending';
END;

CREATE TRIGGER lifecycle_counts_allocated AFTER UPDATE OF allocated_at ON lifecycles
WHEN OLD.allocated_at IS NULL AND NEW.allocated_at IS NOT NULL BEGIN
  INSERT INTO pool_tally (pool, hour, prefix_length, allocated)
    VALUES (NEW.pool, substr(NEW.allocated_at, 1, 13), NEW.prefix_length, 1)
    ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET allocated = allocated + 1;
END;

-- A live prefix: the lifecycle's (prefix, live) pair changed. The old pair leaves, the new one enters.
CREATE TRIGGER lifecycle_counts_prefix AFTER UPDATE OF prefix, state ON lifecycles
WHEN OLD.prefix IS NOT NEW.prefix OR (OLD.state = 'revoked') <> (NEW.state = 'revoked') BEGIN
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'shared' AND OLD.prefix IS NOT NULL AND OLD.state <> 'revoked'
    AND (SELECT n FROM live_prefixes WHERE prefix = OLD.prefix) = 2;
  UPDATE live_prefixes SET n = n - 1 WHERE prefix = OLD.prefix AND OLD.state <> 'revoked';
  DELETE FROM live_prefixes WHERE prefix = OLD.prefix AND n <= 0;
  INSERT INTO live_prefixes (prefix, n) SELECT NEW.prefix, 1 WHERE NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    ON CONFLICT (prefix) DO UPDATE SET n = n + 1;
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'shared' AND NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    AND (SELECT n FROM live_prefixes WHERE prefix = NEW.prefix) = 2;
END;

-- Retention (issue 9) deletes revoked lifecycles: their counts go with them.
CREATE TRIGGER lifecycle_counts_delete AFTER DELETE ON lifecycles BEGIN
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'state:' || OLD.state;
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'pending' AND OLD.next_pending_at IS NOT NULL;
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'shared' AND OLD.prefix IS NOT NULL AND OLD.state <> 'revoked'
    AND (SELECT n FROM live_prefixes WHERE prefix = OLD.prefix) = 2;
  UPDATE live_prefixes SET n = n - 1 WHERE prefix = OLD.prefix AND OLD.state <> 'revoked';
  DELETE FROM live_prefixes WHERE prefix = OLD.prefix AND n <= 0;
END;

-- ipv6_prefix_leak_total: a leak counts once, when it is first stored as counted.
CREATE TRIGGER prefix_leaks_counted_insert AFTER INSERT ON prefix_leaks WHEN NEW.counted_at IS NOT NULL BEGIN
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'leaks';
END;
CREATE TRIGGER prefix_leaks_counted_update AFTER UPDATE OF counted_at ON prefix_leaks
WHEN OLD.counted_at IS NULL AND NEW.counted_at IS NOT NULL BEGIN
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'leaks';
END;
