-- The embedded IPAM's figures (utilization(): GET /metrics, each Prometheus scrape, the forecast)
-- kept in the transaction of each write, as migration 006 keeps the lifecycles': before, each read
-- walked every free run and every quarantined or held-down block of each pool (20,000 held down:
-- 67-97 ms of the event loop per read). services/ipam/embedded-counts.ts reads them.
--
-- The figures are in units of the pool's delegated length (services/ipam/units.ts): a block as long
-- as the unit or shorter is 2^(unit - length) units of its own; a longer one spoils its whole unit,
-- which several such blocks may share. Only blocks inside the pool's parent count: a pool moved to
-- a new parent keeps the old parent's blocks until POST /update moves their lifecycles, and those
-- are counted apart (`outside`).
--
-- The parent and the delegated length are the configuration's, not the database's, so no figure can
-- be counted here: a pool's figures are counted when its IPAM starts with a parent or a length they
-- were not counted for (unit_length NULL: never), from the rows as they are then, in the start-up
-- transaction that already rebuilds ipam_free for a new parent. Until then the triggers below leave
-- the pool alone.
ALTER TABLE ipam_pools ADD COLUMN first_hex TEXT;          -- the parent's first address
ALTER TABLE ipam_pools ADD COLUMN last_hex TEXT;           -- and its last
ALTER TABLE ipam_pools ADD COLUMN unit_length INTEGER;     -- pools[].prefix_length the figures are in
ALTER TABLE ipam_pools ADD COLUMN moved_from TEXT;         -- the parent before the last move, for the start's warning
-- Units of allocated blocks no longer than the unit, inside the parent; and of quarantined or
-- held-down ones (their hold-down may have passed: the reader subtracts those, by reusable_at).
ALTER TABLE ipam_pools ADD COLUMN whole_allocated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ipam_pools ADD COLUMN whole_quarantined INTEGER NOT NULL DEFAULT 0;
-- Units holding blocks longer than the unit (rows of ipam_split_units), and of those the ones
-- holding a quarantined or held-down one.
ALTER TABLE ipam_pools ADD COLUMN split_units INTEGER NOT NULL DEFAULT 0;
ALTER TABLE ipam_pools ADD COLUMN split_quarantined INTEGER NOT NULL DEFAULT 0;
-- Allocated blocks outside the parent: lifecycles still on a parent the pool moved from.
ALTER TABLE ipam_pools ADD COLUMN outside INTEGER NOT NULL DEFAULT 0;

-- A unit that blocks longer than it share (a /60 in a /56 pool), by the unit's first hex digits
-- (the last one masked to the unit's length, see unit below), and how many of them are allocated
-- and quarantined. Normally empty: a pool that delegates one length has none.
CREATE TABLE ipam_split_units (
  pool        TEXT NOT NULL,
  unit        TEXT NOT NULL,
  allocated   INTEGER NOT NULL CHECK (allocated >= 0),
  quarantined INTEGER NOT NULL CHECK (quarantined >= 0),
  PRIMARY KEY (pool, unit)
) WITHOUT ROWID;

CREATE TRIGGER ipam_split_units_insert AFTER INSERT ON ipam_split_units BEGIN
  UPDATE ipam_pools SET split_units = split_units + 1, split_quarantined = split_quarantined + (NEW.quarantined > 0) WHERE pool = NEW.pool;
END;
-- A unit none of whose blocks is left goes (its delete trigger counts it out).
CREATE TRIGGER ipam_split_units_update AFTER UPDATE ON ipam_split_units BEGIN
  UPDATE ipam_pools SET split_quarantined = split_quarantined + (NEW.quarantined > 0) - (OLD.quarantined > 0) WHERE pool = NEW.pool;
  DELETE FROM ipam_split_units WHERE pool = NEW.pool AND unit = NEW.unit AND NEW.allocated = 0 AND NEW.quarantined = 0;
END;
CREATE TRIGGER ipam_split_units_delete AFTER DELETE ON ipam_split_units BEGIN
  UPDATE ipam_pools SET split_units = split_units - 1, split_quarantined = split_quarantined - (OLD.quarantined > 0) WHERE pool = OLD.pool;
END;

-- In each trigger, `p` is the block's pool row; a block's unit is
--   substr(start_hex, 1, L / 4) || the next hex digit masked to the L % 4 bits it keeps
-- with L = p.unit_length: only functions every sqlite3 shell has, so that a write from one keeps the
-- figures (as migration 013's triggers do). A quarantined block's length is its prefix's.
CREATE TRIGGER ipam_allocations_counts_insert AFTER INSERT ON ipam_allocations BEGIN
  UPDATE ipam_pools SET
      whole_allocated = whole_allocated + (CASE WHEN NEW.prefix_length <= unit_length AND NEW.start_hex >= first_hex AND NEW.end_hex <= last_hex
        THEN 1 << (unit_length - NEW.prefix_length) ELSE 0 END),
      outside = outside + NOT (NEW.start_hex >= first_hex AND NEW.end_hex <= last_hex)
    WHERE pool = NEW.pool AND unit_length IS NOT NULL;
  INSERT INTO ipam_split_units (pool, unit, allocated, quarantined)
    SELECT p.pool, substr(NEW.start_hex, 1, p.unit_length / 4) || substr('0123456789abcdef', ((instr('0123456789abcdef', substr(NEW.start_hex, p.unit_length / 4 + 1, 1)) - 1) & ((15 << (4 - p.unit_length % 4)) & 15)) + 1, 1), 1, 0
    FROM ipam_pools AS p WHERE p.pool = NEW.pool AND NEW.prefix_length > p.unit_length AND NEW.start_hex >= p.first_hex AND NEW.end_hex <= p.last_hex
    ON CONFLICT (pool, unit) DO UPDATE SET allocated = allocated + 1;
END;

CREATE TRIGGER ipam_allocations_counts_delete AFTER DELETE ON ipam_allocations BEGIN
  UPDATE ipam_pools SET
      whole_allocated = whole_allocated - (CASE WHEN OLD.prefix_length <= unit_length AND OLD.start_hex >= first_hex AND OLD.end_hex <= last_hex
        THEN 1 << (unit_length - OLD.prefix_length) ELSE 0 END),
      outside = outside - NOT (OLD.start_hex >= first_hex AND OLD.end_hex <= last_hex)
    WHERE pool = OLD.pool AND unit_length IS NOT NULL;
  UPDATE ipam_split_units SET allocated = allocated - 1
    WHERE pool = OLD.pool AND unit = (
      SELECT substr(OLD.start_hex, 1, p.unit_length / 4) || substr('0123456789abcdef', ((instr('0123456789abcdef', substr(OLD.start_hex, p.unit_length / 4 + 1, 1)) - 1) & ((15 << (4 - p.unit_length % 4)) & 15)) + 1, 1)
      FROM ipam_pools AS p WHERE p.pool = OLD.pool AND OLD.prefix_length > p.unit_length AND OLD.start_hex >= p.first_hex AND OLD.end_hex <= p.last_hex);
END;

CREATE TRIGGER ipam_quarantine_counts_insert AFTER INSERT ON ipam_quarantine BEGIN
  UPDATE ipam_pools SET whole_quarantined = whole_quarantined + (1 << (unit_length - CAST(substr(NEW.prefix, instr(NEW.prefix, '/') + 1) AS INTEGER)))
    WHERE pool = NEW.pool AND CAST(substr(NEW.prefix, instr(NEW.prefix, '/') + 1) AS INTEGER) <= unit_length AND NEW.start_hex >= first_hex AND NEW.end_hex <= last_hex;
  INSERT INTO ipam_split_units (pool, unit, allocated, quarantined)
    SELECT p.pool, substr(NEW.start_hex, 1, p.unit_length / 4) || substr('0123456789abcdef', ((instr('0123456789abcdef', substr(NEW.start_hex, p.unit_length / 4 + 1, 1)) - 1) & ((15 << (4 - p.unit_length % 4)) & 15)) + 1, 1), 0, 1
    FROM ipam_pools AS p
    WHERE p.pool = NEW.pool AND CAST(substr(NEW.prefix, instr(NEW.prefix, '/') + 1) AS INTEGER) > p.unit_length AND NEW.start_hex >= p.first_hex AND NEW.end_hex <= p.last_hex
    ON CONFLICT (pool, unit) DO UPDATE SET quarantined = quarantined + 1;
END;

CREATE TRIGGER ipam_quarantine_counts_delete AFTER DELETE ON ipam_quarantine BEGIN
  UPDATE ipam_pools SET whole_quarantined = whole_quarantined - (1 << (unit_length - CAST(substr(OLD.prefix, instr(OLD.prefix, '/') + 1) AS INTEGER)))
    WHERE pool = OLD.pool AND CAST(substr(OLD.prefix, instr(OLD.prefix, '/') + 1) AS INTEGER) <= unit_length AND OLD.start_hex >= first_hex AND OLD.end_hex <= last_hex;
  UPDATE ipam_split_units SET quarantined = quarantined - 1
    WHERE pool = OLD.pool AND unit = (
      SELECT substr(OLD.start_hex, 1, p.unit_length / 4) || substr('0123456789abcdef', ((instr('0123456789abcdef', substr(OLD.start_hex, p.unit_length / 4 + 1, 1)) - 1) & ((15 << (4 - p.unit_length % 4)) & 15)) + 1, 1)
      FROM ipam_pools AS p
      WHERE p.pool = OLD.pool AND CAST(substr(OLD.prefix, instr(OLD.prefix, '/') + 1) AS INTEGER) > p.unit_length AND OLD.start_hex >= p.first_hex AND OLD.end_hex <= p.last_hex);
END;

-- A block is never moved in place (the IPAM deletes and inserts): an update that did would skip the
-- triggers above, so it is refused rather than left to drift the figures.
CREATE TRIGGER ipam_allocations_counts_update BEFORE UPDATE OF pool, start_hex, end_hex, prefix_length ON ipam_allocations BEGIN
  SELECT RAISE(ABORT, 'ipam: a block is deleted and inserted again, never moved in place');
END;
CREATE TRIGGER ipam_quarantine_counts_update BEFORE UPDATE OF pool, start_hex, end_hex, prefix ON ipam_quarantine BEGIN
  SELECT RAISE(ABORT, 'ipam: a block is deleted and inserted again, never moved in place');
END;
