-- The schema of SQLite's migrations 001 and 005-011 as it stands after them, in PostgreSQL's
-- dialect, minus the embedded IPAM (002-004: not on PostgreSQL yet). Times stay RFC 3339 text, as
-- in SQLite, so that rows, cursors and comparisons are the same strings in both backends. Every
-- ordered text column is COLLATE "C": byte order, as SQLite compares, whatever the database's
-- locale (a linguistic collation would order ids and times differently, and break the cursors).

-- One row per lifecycle; the columns are projections of the persisted actor snapshot, kept for queries.
CREATE TABLE lifecycles (
  id               TEXT COLLATE "C" PRIMARY KEY,
  subscriber_id    TEXT COLLATE "C" NOT NULL,
  state            TEXT COLLATE "C" NOT NULL,
  busy             INTEGER NOT NULL DEFAULT 0,
  pool             TEXT COLLATE "C" NOT NULL,
  prefix           TEXT COLLATE "C",
  prefix_length    INTEGER NOT NULL,
  netbox_prefix_id BIGINT,
  username         TEXT,
  cpe_id           TEXT COLLATE "C",
  allocated_at     TEXT COLLATE "C",
  activated_at     TEXT COLLATE "C",
  suspended_at     TEXT COLLATE "C",
  revoked_at       TEXT COLLATE "C",
  created_at       TEXT COLLATE "C" NOT NULL,
  updated_at       TEXT COLLATE "C" NOT NULL,
  next_pending_at  TEXT COLLATE "C",
  snapshot         TEXT NOT NULL
);
-- A subscriber has at most one live lifecycle: across every instance, the database says so.
CREATE UNIQUE INDEX lifecycles_live_subscriber ON lifecycles (subscriber_id) WHERE state <> 'revoked';
CREATE INDEX lifecycles_subscriber ON lifecycles (subscriber_id, created_at);
CREATE INDEX lifecycles_created ON lifecycles (created_at, id);
CREATE INDEX lifecycles_state ON lifecycles (state, created_at, id);
CREATE INDEX lifecycles_pool ON lifecycles (pool, created_at, id);
CREATE INDEX lifecycles_netbox_prefix ON lifecycles (netbox_prefix_id) WHERE netbox_prefix_id IS NOT NULL;
CREATE INDEX lifecycles_busy ON lifecycles (busy) WHERE busy = 1;
CREATE INDEX lifecycles_next_pending ON lifecycles (next_pending_at) WHERE next_pending_at IS NOT NULL;
CREATE INDEX lifecycles_revoked_at ON lifecycles (revoked_at, id) WHERE state = 'revoked';
CREATE INDEX lifecycles_live_cpe ON lifecycles (cpe_id, created_at) WHERE cpe_id IS NOT NULL AND state <> 'revoked';
CREATE INDEX lifecycles_live_prefix ON lifecycles (prefix) WHERE prefix IS NOT NULL AND state <> 'revoked';

-- The audit trail: append-only (no update ever; a delete only as SQLite's migration 010 allows it).
-- seq orders one subscriber's entries: its lifecycle is written by one instance at a time, in order.
CREATE TABLE audit (
  seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  lifecycle_id  TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C" NOT NULL,
  at            TEXT COLLATE "C" NOT NULL,
  type          TEXT NOT NULL,
  from_state    TEXT,
  to_state      TEXT NOT NULL,
  detail        TEXT
);
CREATE INDEX audit_subscriber ON audit (subscriber_id, seq);

-- The pruner's cut: rows older than it, of revoked (or deleted) lifecycles, may go; no other row.
CREATE TABLE audit_prune_cut (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  before TEXT COLLATE "C" NOT NULL
);

CREATE FUNCTION audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    RAISE EXCEPTION 'audit is append-only';
  ELSIF TG_OP = 'DELETE' THEN
    IF NOT (OLD.at < coalesce((SELECT before FROM audit_prune_cut WHERE id = 1), '')
            AND coalesce((SELECT state FROM lifecycles WHERE id = OLD.lifecycle_id), 'revoked') = 'revoked') THEN
      RAISE EXCEPTION 'audit is append-only: only rows older than the prune cut, of revoked lifecycles, are ever deleted';
    END IF;
    RETURN OLD;
  ELSE
    -- What a foreign key would check on the way in; the trail outlives its lifecycle (retention).
    IF NOT EXISTS (SELECT 1 FROM lifecycles WHERE id = NEW.lifecycle_id) THEN
      RAISE EXCEPTION 'audit entry of an unknown lifecycle';
    END IF;
    RETURN NEW;
  END IF;
END $$;
CREATE TRIGGER audit_guard BEFORE INSERT OR UPDATE OR DELETE ON audit FOR EACH ROW EXECUTE FUNCTION audit_guard();
-- TRUNCATE fires no row trigger: refused on its own.
CREATE FUNCTION audit_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit is append-only';
END $$;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT EXECUTE FUNCTION audit_no_truncate();

-- Idempotency-Key replays of POST requests (status 202 marks a pending key: store/idempotency.ts).
CREATE TABLE idempotency (
  key          TEXT COLLATE "C" PRIMARY KEY,
  request_hash TEXT NOT NULL,
  status       INTEGER NOT NULL,
  body         TEXT NOT NULL,
  created_at   TEXT COLLATE "C" NOT NULL
);
CREATE INDEX idempotency_created ON idempotency (created_at);
