-- The last reconciliation run (runtime/reconcile.ts) and the differences it found: each run
-- replaces the previous one's, so the table holds one fleet's worth of differences at most.
CREATE TABLE reconciliation_runs (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  started_at  TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  dry_run     INTEGER NOT NULL,
  counts      TEXT NOT NULL
);
CREATE TABLE reconciliation_discrepancies (
  run_id        INTEGER NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
  seq           INTEGER NOT NULL,
  kind          TEXT NOT NULL,
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
CREATE INDEX reconciliation_kind ON reconciliation_discrepancies (run_id, kind, seq);
