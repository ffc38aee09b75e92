-- SQLite's migration 006: the figures /metrics reads, kept by triggers in the transaction of each
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

-- Kept per statement, not per row: a batch (one upsert of many rows, store/postgresql/lifecycles.ts)
-- sums its changes first, then applies them in key order (INSERT … SELECT … ORDER BY takes the row
-- locks in that order). Instances writing at once then lock the shared count rows in one order and
-- never deadlock; per-row triggers locked them in each batch's row order, and crossing batches
-- waited out the deadlock timeout (1 s) before one was refused (bench/stores.ts showed it).
CREATE FUNCTION lifecycle_counts_apply(olds lifecycles[], news lifecycles[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE shared_delta BIGINT;
BEGIN
  -- How many live lifecycles show each prefix; `shared` follows the prefixes crossing n > 1.
  WITH c AS (
    SELECT prefix, -1 AS d FROM unnest(olds) WHERE prefix IS NOT NULL AND state <> 'revoked'
    UNION ALL SELECT prefix, 1 FROM unnest(news) WHERE prefix IS NOT NULL AND state <> 'revoked'),
  d AS (SELECT prefix, sum(d)::int AS delta FROM c GROUP BY prefix HAVING sum(d) <> 0),
  up AS (
    INSERT INTO live_prefixes AS l (prefix, n) SELECT prefix, delta FROM d ORDER BY prefix
    ON CONFLICT (prefix) DO UPDATE SET n = l.n + excluded.n RETURNING l.prefix, l.n)
  SELECT coalesce(sum(CASE WHEN up.n > 1 AND up.n - d.delta <= 1 THEN 1 WHEN up.n <= 1 AND up.n - d.delta > 1 THEN -1 ELSE 0 END), 0)
    INTO shared_delta FROM up JOIN d USING (prefix);
  DELETE FROM live_prefixes WHERE n <= 0 AND prefix IN (SELECT prefix FROM unnest(olds) WHERE prefix IS NOT NULL);

  WITH c AS (
    SELECT 'state:' || state AS key, -1 AS d FROM unnest(olds)
    UNION ALL SELECT 'state:' || state, 1 FROM unnest(news)
    UNION ALL SELECT 'pending', -1 FROM unnest(olds) WHERE next_pending_at IS NOT NULL
    UNION ALL SELECT 'pending', 1 FROM unnest(news) WHERE next_pending_at IS NOT NULL
    UNION ALL SELECT 'shared', shared_delta),
  d AS (SELECT key, sum(d) AS delta FROM c GROUP BY key HAVING sum(d) <> 0)
  INSERT INTO lifecycle_counts AS k (key, n) SELECT key, delta FROM d ORDER BY key
  ON CONFLICT (key) DO UPDATE SET n = k.n + excluded.n;

  -- Flows: a first prefix (allocated_at set, on insert or update), and a revocation of a lifecycle that had one.
  WITH o AS (SELECT * FROM unnest(olds)), nw AS (SELECT * FROM unnest(news)),
  c AS (
    SELECT nw.pool, substr(nw.allocated_at, 1, 13) AS hour, nw.prefix_length, 1 AS a, 0 AS r
      FROM nw LEFT JOIN o ON o.id = nw.id WHERE nw.allocated_at IS NOT NULL AND o.allocated_at IS NULL
    UNION ALL
    SELECT nw.pool, substr(coalesce(nw.revoked_at, nw.updated_at), 1, 13), nw.prefix_length, 0, 1
      FROM nw JOIN o ON o.id = nw.id WHERE nw.state = 'revoked' AND o.state <> 'revoked' AND nw.allocated_at IS NOT NULL),
  d AS (SELECT pool, hour, prefix_length, sum(a) AS a, sum(r) AS r FROM c GROUP BY 1, 2, 3)
  INSERT INTO pool_tally AS t (pool, hour, prefix_length, allocated, revoked)
  SELECT pool, hour, prefix_length, a, r FROM d ORDER BY 1, 2, 3
  ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET allocated = t.allocated + excluded.allocated, revoked = t.revoked + excluded.revoked;
END $$;

CREATE FUNCTION lifecycle_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lifecycle_counts_apply('{}'::lifecycles[], ARRAY(SELECT ROW(n.*)::lifecycles FROM new_rows AS n));
  RETURN NULL;
END $$;
CREATE FUNCTION lifecycle_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lifecycle_counts_apply(ARRAY(SELECT ROW(o.*)::lifecycles FROM old_rows AS o), ARRAY(SELECT ROW(n.*)::lifecycles FROM new_rows AS n));
  RETURN NULL;
END $$;
CREATE FUNCTION lifecycle_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM lifecycle_counts_apply(ARRAY(SELECT ROW(o.*)::lifecycles FROM old_rows AS o), '{}'::lifecycles[]);
  RETURN NULL;
END $$;
CREATE TRIGGER lifecycle_counts_insert AFTER INSERT ON lifecycles REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_counts_insert();
CREATE TRIGGER lifecycle_counts_update AFTER UPDATE ON lifecycles REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_counts_update();
CREATE TRIGGER lifecycle_counts_delete AFTER DELETE ON lifecycles REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_counts_delete();

-- ipv6_prefix_leak_total: a leak counts once, when it is first stored as counted.
CREATE FUNCTION prefix_leaks_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.counted_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.counted_at IS NULL) THEN
    UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'leaks';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER prefix_leaks_count AFTER INSERT OR UPDATE OF counted_at ON prefix_leaks FOR EACH ROW EXECUTE FUNCTION prefix_leaks_count();
