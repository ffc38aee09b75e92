-- The embedded IPAM's pools (SQLite's migrations 002-004) for several instances on one database.
-- Addresses are 32 lowercase hex digits, as in SQLite, so that text order (COLLATE "C") is numeric
-- order. Every write of a pool first locks its ipam_pools row (services/ipam/embedded-pg.ts), so
-- instances allocate from one pool one at a time; the constraints below are the last line of
-- defence should anything get past that: one key, one block per start, and no two blocks that
-- overlap, in any pool (an exclusion constraint on the prefix as a cidr).
CREATE TABLE ipam_allocations (
  pool          TEXT COLLATE "C" NOT NULL,
  start_hex     TEXT COLLATE "C" NOT NULL CHECK (length(start_hex) = 32),
  end_hex       TEXT COLLATE "C" NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix        TEXT NOT NULL,
  prefix_length INTEGER NOT NULL CHECK (prefix_length BETWEEN 0 AND 128),
  key           TEXT COLLATE "C" NOT NULL UNIQUE,
  lifecycle_id  TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT NOT NULL,
  allocated_at  TEXT NOT NULL,
  block         CIDR GENERATED ALWAYS AS (prefix::cidr) STORED,
  CONSTRAINT ipam_allocations_no_overlap EXCLUDE USING gist (block inet_ops WITH &&)
);
CREATE UNIQUE INDEX ipam_allocations_block ON ipam_allocations (pool, start_hex);

CREATE TABLE ipam_pools (
  pool   TEXT COLLATE "C" PRIMARY KEY,
  parent TEXT NOT NULL
);

CREATE TABLE ipam_free (
  pool      TEXT COLLATE "C" NOT NULL,
  start_hex TEXT COLLATE "C" NOT NULL CHECK (length(start_hex) = 32),
  end_hex   TEXT COLLATE "C" NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  PRIMARY KEY (pool, start_hex)
);

-- Released blocks: quarantined (freed_at NULL, reusable_at the far future) until their revocation
-- has finished, then held down until reusable_at.
CREATE TABLE ipam_quarantine (
  pool          TEXT COLLATE "C" NOT NULL,
  start_hex     TEXT COLLATE "C" NOT NULL CHECK (length(start_hex) = 32),
  end_hex       TEXT COLLATE "C" NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix        TEXT NOT NULL,
  lifecycle_id  TEXT COLLATE "C" NOT NULL,
  subscriber_id TEXT COLLATE "C",
  released_at   TEXT COLLATE "C" NOT NULL,
  freed_at      TEXT COLLATE "C",
  reusable_at   TEXT COLLATE "C" NOT NULL CHECK (reusable_at >= released_at),
  block         CIDR GENERATED ALWAYS AS (prefix::cidr) STORED,
  PRIMARY KEY (pool, start_hex),
  CONSTRAINT ipam_quarantine_no_overlap EXCLUDE USING gist (block inet_ops WITH &&)
);
CREATE INDEX ipam_quarantine_expiry ON ipam_quarantine (pool, reusable_at);
CREATE INDEX ipam_quarantine_subscriber ON ipam_quarantine (pool, subscriber_id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX ipam_quarantine_lifecycle ON ipam_quarantine (lifecycle_id);

-- An allocation never overlaps a quarantined block (the two tables cannot share one constraint).
CREATE FUNCTION ipam_not_quarantined() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM ipam_quarantine WHERE block && NEW.block) THEN
    RAISE EXCEPTION 'ipam: block overlaps a quarantined block';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER ipam_allocations_not_quarantined BEFORE INSERT ON ipam_allocations FOR EACH ROW EXECUTE FUNCTION ipam_not_quarantined();
