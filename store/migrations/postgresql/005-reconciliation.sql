-- SQLite's migration 012 in PostgreSQL's dialect: the last reconciliation run (runtime/reconcile.ts)
-- and the differences it found. Each run replaces the previous one's, so the tables hold one
-- fleet's worth of differences at most. Also the readiness probe's row (store/postgresql/probe.ts).
CREATE TABLE reconciliation_runs (
  id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at  TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  dry_run     BOOLEAN NOT NULL,
  counts      TEXT NOT NULL
);
CREATE TABLE reconciliation_discrepancies (
  run_id        BIGINT NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  kind          TEXT COLLATE "C" NOT NULL,
  lifecycle_id  TEXT,
  subscriber_id TEXT,
  username      TEXT,
  prefix        TEXT,
  cpe_id        TEXT,
  -- reported | repaired | would_repair (dry run) | repair_failed
  action        TEXT NOT NULL,
  detail        TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
-- A page of one kind: (run, kind) then seq order, without visiting the other kinds' rows.
CREATE INDEX reconciliation_kind ON reconciliation_discrepancies (run_id, kind, seq);

-- The readiness probe writes this one row: a server that takes no writes (a standby after a
-- failover, a database set read-only) refuses it, where a SELECT would still answer.
CREATE TABLE store_probe (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  at TIMESTAMPTZ NOT NULL
);
INSERT INTO store_probe (id, at) VALUES (1, now());

-- The audit pruning (store/postgresql/audit-retention.ts) walks the trail by seq (the primary key)
-- and looks each entry's lifecycle up by id (its primary key), as the delete trigger does: it
-- needs no index of its own.
