-- Delegated prefixes handed out by the embedded IPAM. Addresses are 32 lowercase hex digits so that
-- text order is numeric order and the (pool, start_hex) index answers range and neighbour queries.
CREATE TABLE ipam_allocations (
  pool          TEXT NOT NULL,
  start_hex     TEXT NOT NULL CHECK (length(start_hex) = 32),
  end_hex       TEXT NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix        TEXT NOT NULL,
  prefix_length INTEGER NOT NULL CHECK (prefix_length BETWEEN 0 AND 128),
  key           TEXT NOT NULL UNIQUE,
  lifecycle_id  TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  allocated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX ipam_allocations_block ON ipam_allocations (pool, start_hex);

-- Last line of defence: no two blocks of one pool may overlap. Blocks already stored never overlap,
-- so only the block starting last at or before the new block's end can reach into it: one index seek.
CREATE TRIGGER ipam_allocations_no_overlap BEFORE INSERT ON ipam_allocations
WHEN (SELECT end_hex FROM ipam_allocations
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps an allocated block of the same pool');
END;

-- The parent prefix whose free space ipam_free describes; another parent in the configuration
-- means ipam_free is rebuilt from ipam_allocations.
CREATE TABLE ipam_pools (
  pool   TEXT PRIMARY KEY,
  parent TEXT NOT NULL
) WITHOUT ROWID;

-- Free space of each pool's parent as maximal runs of free addresses (adjacent runs are always
-- merged). Derived from ipam_allocations and kept in the same transactions, so that finding the
-- first free block reads the few holes instead of every allocated block.
CREATE TABLE ipam_free (
  pool      TEXT NOT NULL,
  start_hex TEXT NOT NULL CHECK (length(start_hex) = 32),
  end_hex   TEXT NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  PRIMARY KEY (pool, start_hex)
) WITHOUT ROWID;
