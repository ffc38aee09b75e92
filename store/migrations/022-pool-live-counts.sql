-- Live lifecycles per pool (`pool:<name>`), kept as migration 006 keeps the state counts: a draining
-- pool's figure (GET /metrics, its refusal's message, whether it is still in use) was a count of
-- the pool's rows on lifecycles_pool, 154 ms at 1,000,000 (issue 10), on every metrics reading and
-- every request naming the pool. A key appears with its pool's first live lifecycle.
INSERT INTO lifecycle_counts (key, n) SELECT 'pool:' || pool, count(*) FROM lifecycles WHERE state <> 'revoked' GROUP BY pool
  ON CONFLICT (key) DO UPDATE SET n = excluded.n;

CREATE TRIGGER lifecycle_counts_pool_insert AFTER INSERT ON lifecycles WHEN NEW.state <> 'revoked' BEGIN
  INSERT INTO lifecycle_counts (key, n) VALUES ('pool:' || NEW.pool, 1) ON CONFLICT (key) DO UPDATE SET n = n + 1;
END;

-- Only a write that moves a live lifecycle between pools, or in or out of revoked: the upsert names
-- pool and state on every write, and most writes (a step done, a state between two live ones) skip it.
CREATE TRIGGER lifecycle_counts_pool_update AFTER UPDATE OF pool, state ON lifecycles
WHEN (OLD.state <> 'revoked' OR NEW.state <> 'revoked') AND (OLD.pool IS NOT NEW.pool OR (OLD.state = 'revoked') <> (NEW.state = 'revoked')) BEGIN
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'pool:' || OLD.pool AND OLD.state <> 'revoked';
  INSERT INTO lifecycle_counts (key, n) SELECT 'pool:' || NEW.pool, 1 WHERE NEW.state <> 'revoked'
    ON CONFLICT (key) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER lifecycle_counts_pool_delete AFTER DELETE ON lifecycles WHEN OLD.state <> 'revoked' BEGIN
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'pool:' || OLD.pool;
END;
