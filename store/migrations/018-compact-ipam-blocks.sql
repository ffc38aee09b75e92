-- The embedded IPAM's blocks in fewer bytes (issue 10: database per lifecycle halved at 230,000
-- held, not only at the bench's 3,000): 270 + 114 bytes a block before, in the table and in its key
-- index. Three of its columns repeated what other columns or tables already hold, as text:
--   lifecycle_id  a lowercase UUID's 16 bytes (as audit_log keeps it), else the id's text;
--   key_gen       the key is always `<lifecycle_id>:allocate:<generation>` (machines/steps.ts
--                 stepKey): then the generation alone, an integer (0 costs no byte), else the
--                 whole key's text, as any other caller of the port may choose;
--   allocated_at  milliseconds since 1970 of a toISOString() text, else the text.
-- The unique key is (lifecycle_id, key_gen), whose text is the key. A key of the other form that
-- reads as `<another lifecycle>:allocate:<n>` would be a second spelling of that one's key:
-- services/ipam/embedded.ts looks both up before it writes, and the view's insert refuses it.
--
-- `ipam_allocations` is now a view that reads every column back as text, as before, with triggers
-- so that inserting into it, updating it and deleting from it (tests, an operator's sqlite3) do what
-- they did on the table. services/ipam/ writes and reads ipam_blocks itself. BLOB columns have no
-- affinity: an integer stays an integer, a text the text it was.
-- The old table aside first: the view takes its name. No other trigger or view names it.
ALTER TABLE ipam_allocations RENAME TO ipam_allocations_old;

CREATE TABLE ipam_blocks (
  pool          TEXT NOT NULL,
  start_hex     TEXT NOT NULL CHECK (length(start_hex) = 32),
  end_hex       TEXT NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix        TEXT NOT NULL,
  prefix_length INTEGER NOT NULL CHECK (prefix_length BETWEEN 0 AND 128),
  lifecycle_id  BLOB NOT NULL CHECK (typeof(lifecycle_id) = 'text' OR length(lifecycle_id) = 16),
  key_gen       BLOB NOT NULL CHECK (typeof(key_gen) IN ('integer', 'text')),
  subscriber_id TEXT NOT NULL,
  allocated_at  BLOB NOT NULL CHECK (typeof(allocated_at) IN ('integer', 'text')),
  PRIMARY KEY (pool, start_hex),
  UNIQUE (lifecycle_id, key_gen)
) WITHOUT ROWID;
-- Keys of the other form, by themselves (normally none): looked up when a key is not found by its
-- lifecycle and generation, so that no key is held twice.
CREATE UNIQUE INDEX ipam_blocks_other_key ON ipam_blocks (key_gen) WHERE typeof(key_gen) = 'text';

CREATE VIEW ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at) AS
  SELECT b.pool, b.start_hex, b.end_hex, b.prefix, b.prefix_length,
    CASE WHEN typeof(b.key_gen) = 'integer' THEN (CASE WHEN typeof(b.lifecycle_id) = 'blob' THEN lower(substr(hex(b.lifecycle_id), 1, 8) || '-' || substr(hex(b.lifecycle_id), 9, 4) || '-' || substr(hex(b.lifecycle_id), 13, 4) || '-' || substr(hex(b.lifecycle_id), 17, 4) || '-' || substr(hex(b.lifecycle_id), 21)) ELSE b.lifecycle_id END) || ':allocate:' || b.key_gen ELSE b.key_gen END,
    CASE WHEN typeof(b.lifecycle_id) = 'blob' THEN lower(substr(hex(b.lifecycle_id), 1, 8) || '-' || substr(hex(b.lifecycle_id), 9, 4) || '-' || substr(hex(b.lifecycle_id), 13, 4) || '-' || substr(hex(b.lifecycle_id), 17, 4) || '-' || substr(hex(b.lifecycle_id), 21)) ELSE b.lifecycle_id END,
    b.subscriber_id,
    CASE WHEN typeof(b.allocated_at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', b.allocated_at / 1000.0, 'unixepoch') ELSE b.allocated_at END
  FROM ipam_blocks AS b;

-- What services/ipam/embedded.ts encodes (embedded-blocks.ts), in SQL: the lifecycle id as bytes when
-- it is a lowercase UUID; the key as its generation when it is that lifecycle's `:allocate:<n>`, n
-- as String(n) writes it (digits, no leading zero, at most 15). A key already held under either
-- spelling is refused, as the table's UNIQUE (key) refused it: by the text, then as
-- `<lifecycle>:allocate:<n>` of the lifecycle before its first `:allocate:`.
CREATE TRIGGER ipam_allocations_insert INSTEAD OF INSERT ON ipam_allocations BEGIN
  SELECT RAISE(ABORT, 'UNIQUE constraint failed: ipam_allocations.key')
    WHERE EXISTS (SELECT 1 FROM ipam_blocks WHERE typeof(key_gen) = 'text' AND key_gen = NEW.key)
       OR EXISTS (SELECT 1 FROM ipam_blocks
                  WHERE lifecycle_id = (CASE WHEN substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1) GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1), '-', '')) ELSE CAST(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1) AS TEXT) END)
                    AND key_gen = (CASE WHEN substr(NEW.key, 1, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 10) = substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1) || ':allocate:' AND length(substr(NEW.key, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 11)) BETWEEN 1 AND 15 AND substr(NEW.key, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 11) NOT GLOB '*[^0-9]*' AND (substr(NEW.key, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 11) = '0' OR substr(NEW.key, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 11) NOT GLOB '0*') THEN CAST(substr(NEW.key, length(substr(NEW.key, 1, instr(NEW.key, ':allocate:') - 1)) + 11) AS INTEGER) END));
  INSERT INTO ipam_blocks (pool, start_hex, end_hex, prefix, prefix_length, lifecycle_id, key_gen, subscriber_id, allocated_at) VALUES (
    NEW.pool, NEW.start_hex, NEW.end_hex, NEW.prefix, NEW.prefix_length,
    CASE WHEN NEW.lifecycle_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(NEW.lifecycle_id, '-', '')) ELSE CAST(NEW.lifecycle_id AS TEXT) END,
    coalesce((CASE WHEN substr(NEW.key, 1, length(NEW.lifecycle_id) + 10) = NEW.lifecycle_id || ':allocate:' AND length(substr(NEW.key, length(NEW.lifecycle_id) + 11)) BETWEEN 1 AND 15 AND substr(NEW.key, length(NEW.lifecycle_id) + 11) NOT GLOB '*[^0-9]*' AND (substr(NEW.key, length(NEW.lifecycle_id) + 11) = '0' OR substr(NEW.key, length(NEW.lifecycle_id) + 11) NOT GLOB '0*') THEN CAST(substr(NEW.key, length(NEW.lifecycle_id) + 11) AS INTEGER) END), CAST(NEW.key AS TEXT)),
    NEW.subscriber_id,
    CASE WHEN NEW.allocated_at >= '1970' AND strftime('%Y-%m-%dT%H:%M:%fZ', NEW.allocated_at) IS NEW.allocated_at
      THEN CAST(round((julianday(NEW.allocated_at) - 2440587.5) * 86400000) AS INTEGER) ELSE CAST(NEW.allocated_at AS TEXT) END);
END;
-- An update through the view is the table's (a move is refused by its trigger below); the key,
-- the lifecycle and the time of an allocation are not changed in place.
CREATE TRIGGER ipam_allocations_update INSTEAD OF UPDATE ON ipam_allocations BEGIN
  SELECT RAISE(ABORT, 'ipam_allocations: key, lifecycle_id and allocated_at are not changed in place')
    WHERE NEW.key IS NOT OLD.key OR NEW.lifecycle_id IS NOT OLD.lifecycle_id OR NEW.allocated_at IS NOT OLD.allocated_at;
  UPDATE ipam_blocks SET pool = NEW.pool, start_hex = NEW.start_hex, end_hex = NEW.end_hex, prefix = NEW.prefix,
      prefix_length = NEW.prefix_length, subscriber_id = NEW.subscriber_id
    WHERE pool = OLD.pool AND start_hex = OLD.start_hex;
END;
CREATE TRIGGER ipam_allocations_delete INSTEAD OF DELETE ON ipam_allocations BEGIN
  DELETE FROM ipam_blocks WHERE pool = OLD.pool AND start_hex = OLD.start_hex;
END;

-- Every block so far, through the view, in key order, before the table's own triggers: the counts of
-- migration 015 count these blocks already. The old table's triggers go with it; they are made
-- again on ipam_blocks as migrations 013 and 015 made them.
INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
  SELECT pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at FROM ipam_allocations_old ORDER BY pool, start_hex;
DROP TABLE ipam_allocations_old;

CREATE TRIGGER ipam_blocks_no_overlap BEFORE INSERT ON ipam_blocks
WHEN (SELECT end_hex FROM ipam_blocks
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps an allocated block of the same pool');
END;
CREATE TRIGGER ipam_blocks_not_quarantined BEFORE INSERT ON ipam_blocks
WHEN (SELECT end_hex FROM ipam_quarantine
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps a quarantined block of the same pool');
END;
CREATE TRIGGER ipam_blocks_counts_insert AFTER INSERT ON ipam_blocks BEGIN
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

CREATE TRIGGER ipam_blocks_counts_delete AFTER DELETE ON ipam_blocks BEGIN
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
-- A block is never moved in place (the IPAM deletes and inserts): an update that did would skip the
-- triggers above, so it is refused rather than left to drift the figures.
CREATE TRIGGER ipam_blocks_counts_update BEFORE UPDATE OF pool, start_hex, end_hex, prefix_length ON ipam_blocks BEGIN
  SELECT RAISE(ABORT, 'ipam: a block is deleted and inserted again, never moved in place');
END;
