-- One row per lifecycle; the columns are projections of the persisted actor snapshot, kept for queries.
CREATE TABLE lifecycles (
  id               TEXT PRIMARY KEY,
  subscriber_id    TEXT NOT NULL,
  state            TEXT NOT NULL,
  busy             INTEGER NOT NULL DEFAULT 0,
  pool             TEXT NOT NULL,
  prefix           TEXT,
  prefix_length    INTEGER NOT NULL,
  netbox_prefix_id INTEGER,
  username         TEXT,
  cpe_id           TEXT,
  allocated_at     TEXT,
  activated_at     TEXT,
  suspended_at     TEXT,
  revoked_at       TEXT,
  created_at       TEXT NOT NULL,
  updated_at       TEXT NOT NULL,
  next_pending_at  TEXT,
  snapshot         TEXT NOT NULL
);
-- A subscriber has at most one live lifecycle.
CREATE UNIQUE INDEX lifecycles_live_subscriber ON lifecycles (subscriber_id) WHERE state <> 'revoked';
CREATE INDEX lifecycles_subscriber ON lifecycles (subscriber_id, created_at);
CREATE INDEX lifecycles_state ON lifecycles (state, id);
CREATE INDEX lifecycles_pool ON lifecycles (pool, id);
CREATE INDEX lifecycles_netbox_prefix ON lifecycles (netbox_prefix_id) WHERE netbox_prefix_id IS NOT NULL;
CREATE INDEX lifecycles_busy ON lifecycles (busy) WHERE busy = 1;
CREATE INDEX lifecycles_next_pending ON lifecycles (next_pending_at) WHERE next_pending_at IS NOT NULL;

-- Append-only audit trail of every event a lifecycle received.
CREATE TABLE audit (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  lifecycle_id  TEXT NOT NULL REFERENCES lifecycles (id),
  subscriber_id TEXT NOT NULL,
  at            TEXT NOT NULL,
  type          TEXT NOT NULL,
  from_state    TEXT,
  to_state      TEXT NOT NULL,
  detail        TEXT
);
CREATE INDEX audit_subscriber ON audit (subscriber_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

-- Idempotency-Key replays of POST requests.
CREATE TABLE idempotency (
  key          TEXT PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   TEXT NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created_at);
