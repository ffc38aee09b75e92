-- SQLite's migration 006: the figures /metrics reads, kept by a trigger in the transaction of each
-- lifecycle write, so that a scrape reads a few rows instead of counting every lifecycle.
-- Keys: `state:<state>`, `pending` (next_pending_at set), `shared` (prefixes that more than one
-- live lifecycle shows), `leaks` (prefix_leaks counted).
CREATE TABLE lifecycle_counts (
  key TEXT COLLATE "C" PRIMARY KEY,
  n   BIGINT NOT NULL
);
CREATE TABLE live_prefixes (
  prefix TEXT COLLATE "C" PRIMARY KEY,
  n      INTEGER NOT NULL
);
CREATE INDEX live_prefixes_shared ON live_prefixes (prefix) WHERE n > 1;
CREATE TABLE pool_tally (
  pool          TEXT COLLATE "C" NOT NULL,
  hour          TEXT COLLATE "C" NOT NULL,
  prefix_length INTEGER NOT NULL,
  allocated     BIGINT NOT NULL DEFAULT 0,
  revoked       BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (pool, hour, prefix_length)
);
CREATE TABLE prefix_leaks (
  lifecycle_id  TEXT COLLATE "C" NOT NULL,
  prefix        TEXT COLLATE "C" NOT NULL,
  pool          TEXT NOT NULL,
  first_seen_at TEXT NOT NULL,
  counted_at    TEXT,
  PRIMARY KEY (lifecycle_id, prefix)
);
INSERT INTO lifecycle_counts (key, n) VALUES
  ('state:pending', 0), ('state:allocated', 0), ('state:active', 0), ('state:suspended', 0),
  ('state:revoking', 0), ('state:revoked', 0), ('state:failed', 0), ('pending', 0), ('shared', 0), ('leaks', 0);

-- A live prefix enters (+1) or leaves (-1); `shared` follows the count crossing 2.
CREATE FUNCTION live_prefix_add(p TEXT, d INTEGER) RETURNS void LANGUAGE plpgsql AS $$
DECLARE m INTEGER;
BEGIN
  IF d > 0 THEN
    INSERT INTO live_prefixes (prefix, n) VALUES (p, 1) ON CONFLICT (prefix) DO UPDATE SET n = live_prefixes.n + 1 RETURNING n INTO m;
    IF m = 2 THEN UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'shared'; END IF;
  ELSE
    UPDATE live_prefixes SET n = n - 1 WHERE prefix = p RETURNING n INTO m;
    IF m = 1 THEN UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'shared'; END IF;
    IF m <= 0 THEN DELETE FROM live_prefixes WHERE prefix = p; END IF;
  END IF;
END $$;

CREATE FUNCTION pool_tally_add(p TEXT, at TEXT, len INTEGER, alloc INTEGER, rev INTEGER) RETURNS void LANGUAGE sql AS $$
  INSERT INTO pool_tally (pool, hour, prefix_length, allocated, revoked) VALUES (p, substr(at, 1, 13), len, alloc, rev)
  ON CONFLICT (pool, hour, prefix_length) DO UPDATE
    SET allocated = pool_tally.allocated + excluded.allocated, revoked = pool_tally.revoked + excluded.revoked;
$$;

CREATE FUNCTION lifecycle_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'state:' || NEW.state;
    IF NEW.next_pending_at IS NOT NULL THEN UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'pending'; END IF;
    IF NEW.prefix IS NOT NULL AND NEW.state <> 'revoked' THEN PERFORM live_prefix_add(NEW.prefix, 1); END IF;
    IF NEW.allocated_at IS NOT NULL THEN PERFORM pool_tally_add(NEW.pool, NEW.allocated_at, NEW.prefix_length, 1, 0); END IF;
    RETURN NULL;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'state:' || OLD.state;
    IF OLD.next_pending_at IS NOT NULL THEN UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'pending'; END IF;
    IF OLD.prefix IS NOT NULL AND OLD.state <> 'revoked' THEN PERFORM live_prefix_add(OLD.prefix, -1); END IF;
    RETURN NULL;
  END IF;
  -- An update: only what changed (a state change is the common case, the cost of every transition).
  IF OLD.state IS DISTINCT FROM NEW.state THEN
    -- One statement, the two rows in key order: concurrent writers lock them in the same order.
    UPDATE lifecycle_counts SET n = n + (CASE WHEN key = 'state:' || NEW.state THEN 1 ELSE -1 END)
      WHERE key IN ('state:' || OLD.state, 'state:' || NEW.state);
    IF NEW.state = 'revoked' AND OLD.state <> 'revoked' AND NEW.allocated_at IS NOT NULL THEN
      PERFORM pool_tally_add(NEW.pool, coalesce(NEW.revoked_at, NEW.updated_at), NEW.prefix_length, 0, 1);
    END IF;
  END IF;
  IF (OLD.next_pending_at IS NULL) <> (NEW.next_pending_at IS NULL) THEN
    UPDATE lifecycle_counts SET n = n + (CASE WHEN NEW.next_pending_at IS NULL THEN -1 ELSE 1 END) WHERE key = 'pending';
  END IF;
  IF OLD.allocated_at IS NULL AND NEW.allocated_at IS NOT NULL THEN
    PERFORM pool_tally_add(NEW.pool, NEW.allocated_at, NEW.prefix_length, 1, 0);
  END IF;
  IF OLD.prefix IS DISTINCT FROM NEW.prefix OR (OLD.state = 'revoked') <> (NEW.state = 'revoked') THEN
    IF OLD.prefix IS NOT NULL AND OLD.state <> 'revoked' THEN PERFORM live_prefix_add(OLD.prefix, -1); END IF;
    IF NEW.prefix IS NOT NULL AND NEW.state <> 'revoked' THEN PERFORM live_prefix_add(NEW.prefix, 1); END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER lifecycle_counts_keep AFTER INSERT OR UPDATE OR DELETE ON lifecycles FOR EACH ROW EXECUTE FUNCTION lifecycle_counts_keep();

-- ipv6_prefix_leak_total: a leak counts once, when it is first stored as counted.
CREATE FUNCTION prefix_leaks_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.counted_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.counted_at IS NULL) THEN
    UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'leaks';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER prefix_leaks_count AFTER INSERT OR UPDATE OF counted_at ON prefix_leaks FOR EACH ROW EXECUTE FUNCTION prefix_leaks_count();
