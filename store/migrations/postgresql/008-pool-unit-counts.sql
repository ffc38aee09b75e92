-- SQLite's migration 015: the embedded IPAM's figures (utilization(): GET /metrics, each scrape, the
-- forecast) kept in the transaction of each write, in units of the pool's delegated length, instead
-- of every free run and every quarantined or held-down block read on each call. Only blocks inside
-- the pool's parent count; allocated blocks outside it (a parent the pool moved from) are counted
-- apart. The parent and the length are the configuration's: a pool's figures are counted when an
-- instance starts with a parent or a length they were not counted for (unit_length NULL: never),
-- from the rows as they are then, under the pool's row lock (services/ipam/embedded-pg-counts.ts).
-- Every write of a pool holds that lock already, so the figures of one pool change one at a time.
ALTER TABLE ipam_pools
  ADD COLUMN first_hex TEXT COLLATE "C",
  ADD COLUMN last_hex TEXT COLLATE "C",
  ADD COLUMN unit_length INTEGER,
  ADD COLUMN moved_from TEXT,
  ADD COLUMN whole_allocated BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN whole_quarantined BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN split_units BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN split_quarantined BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN outside BIGINT NOT NULL DEFAULT 0;

-- Units that blocks longer than the unit share (a /60 in a /56 pool), normally none.
CREATE TABLE ipam_split_units (
  pool        TEXT COLLATE "C" NOT NULL,
  unit        CIDR NOT NULL,
  allocated   INTEGER NOT NULL CHECK (allocated >= 0),
  quarantined INTEGER NOT NULL CHECK (quarantined >= 0),
  PRIMARY KEY (pool, unit)
);

-- One block in (d = 1) or out (d = -1) of ipam_allocations or ipam_quarantine.
CREATE FUNCTION ipam_count_block(b_pool TEXT, b_start TEXT, b_end TEXT, b_block CIDR, allocated BOOLEAN, d INTEGER) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  p ipam_pools%ROWTYPE;
  u ipam_split_units%ROWTYPE;
  was_q BOOLEAN;
BEGIN
  SELECT * INTO p FROM ipam_pools WHERE pool = b_pool;
  IF NOT FOUND OR p.unit_length IS NULL THEN RETURN; END IF;
  IF NOT (b_start >= p.first_hex AND b_end <= p.last_hex) THEN
    IF allocated THEN UPDATE ipam_pools SET outside = outside + d WHERE pool = b_pool; END IF;
    RETURN;
  END IF;
  IF masklen(b_block) <= p.unit_length THEN
    IF allocated THEN
      UPDATE ipam_pools SET whole_allocated = whole_allocated + d * (1::bigint << (p.unit_length - masklen(b_block))) WHERE pool = b_pool;
    ELSE
      UPDATE ipam_pools SET whole_quarantined = whole_quarantined + d * (1::bigint << (p.unit_length - masklen(b_block))) WHERE pool = b_pool;
    END IF;
    RETURN;
  END IF;
  SELECT * INTO u FROM ipam_split_units WHERE pool = b_pool AND unit = set_masklen(b_block, p.unit_length);
  IF NOT FOUND THEN
    IF d < 0 THEN RETURN; END IF;
    u.pool := b_pool;
    u.unit := set_masklen(b_block, p.unit_length);
    u.allocated := 0;
    u.quarantined := 0;
    INSERT INTO ipam_split_units (pool, unit, allocated, quarantined) VALUES (u.pool, u.unit, 0, 0);
    UPDATE ipam_pools SET split_units = split_units + 1 WHERE pool = b_pool;
  END IF;
  was_q := u.quarantined > 0;
  IF allocated THEN u.allocated := u.allocated + d; ELSE u.quarantined := u.quarantined + d; END IF;
  IF u.allocated = 0 AND u.quarantined = 0 THEN
    DELETE FROM ipam_split_units WHERE pool = u.pool AND unit = u.unit;
    UPDATE ipam_pools SET split_units = split_units - 1 WHERE pool = b_pool;
  ELSE
    UPDATE ipam_split_units SET allocated = u.allocated, quarantined = u.quarantined WHERE pool = u.pool AND unit = u.unit;
  END IF;
  IF was_q <> (u.quarantined > 0) THEN
    UPDATE ipam_pools SET split_quarantined = split_quarantined + (CASE WHEN was_q THEN -1 ELSE 1 END) WHERE pool = b_pool;
  END IF;
END $$;

CREATE FUNCTION ipam_count_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM ipam_count_block(NEW.pool, NEW.start_hex, NEW.end_hex, NEW.block, TG_TABLE_NAME = 'ipam_allocations', 1);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM ipam_count_block(OLD.pool, OLD.start_hex, OLD.end_hex, OLD.block, TG_TABLE_NAME = 'ipam_allocations', -1);
  ELSE
    -- A block is never moved in place (the IPAM deletes and inserts): one that was would drift the figures.
    RAISE EXCEPTION 'ipam: a block is deleted and inserted again, never moved in place';
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER ipam_allocations_counts AFTER INSERT OR DELETE OR UPDATE OF pool, start_hex, end_hex, prefix ON ipam_allocations
  FOR EACH ROW EXECUTE FUNCTION ipam_count_row();
CREATE TRIGGER ipam_quarantine_counts AFTER INSERT OR DELETE OR UPDATE OF pool, start_hex, end_hex, prefix ON ipam_quarantine
  FOR EACH ROW EXECUTE FUNCTION ipam_count_row();
