-- Blocks given back to the embedded IPAM and held down before it may hand them out again: the
-- revocation releases the prefix in IPAM first, while RADIUS, open sessions and the CPE still carry
-- it. A quarantined block is in neither ipam_allocations nor ipam_free; an allocation in its pool
-- moves it to ipam_free once reusable_at has passed. Times are toISOString() text (fixed width, so
-- text order is time order), as allocated_at.
CREATE TABLE ipam_quarantine (
  pool         TEXT NOT NULL,
  start_hex    TEXT NOT NULL CHECK (length(start_hex) = 32),
  end_hex      TEXT NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix       TEXT NOT NULL,
  lifecycle_id TEXT NOT NULL,
  released_at  TEXT NOT NULL,
  reusable_at  TEXT NOT NULL CHECK (reusable_at >= released_at),
  PRIMARY KEY (pool, start_hex)
) WITHOUT ROWID;
CREATE INDEX ipam_quarantine_expiry ON ipam_quarantine (pool, reusable_at);

-- Last line of defence, as ipam_allocations_no_overlap: quarantined blocks come from allocated
-- blocks, so they never overlap one another, and one index seek finds the only one that could
-- reach into a new allocation.
CREATE TRIGGER ipam_allocations_not_quarantined BEFORE INSERT ON ipam_allocations
WHEN (SELECT end_hex FROM ipam_quarantine
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps a quarantined block of the same pool');
END;
