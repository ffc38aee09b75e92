-- As SQLite migration 022: live lifecycles per pool (`pool:<name>`) among the kept counts, so a
-- draining pool's figure is one row, not a count of the pool's lifecycles. Migration 002's function
-- again, the pool keys added to its counts; its keys are still locked in key order.
INSERT INTO lifecycle_counts (key, n) SELECT 'pool:' || pool, count(*) FROM lifecycles WHERE state <> 'revoked' GROUP BY pool
  ON CONFLICT (key) DO UPDATE SET n = excluded.n;

CREATE OR REPLACE FUNCTION lifecycle_counts_apply(olds lifecycles[], news lifecycles[]) RETURNS void LANGUAGE plpgsql AS $$
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
    UNION ALL SELECT 'shared', shared_delta
    UNION ALL SELECT 'pool:' || pool, -1 FROM unnest(olds) WHERE state <> 'revoked'
    UNION ALL SELECT 'pool:' || pool, 1 FROM unnest(news) WHERE state <> 'revoked'),
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
