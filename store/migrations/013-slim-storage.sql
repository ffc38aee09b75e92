-- Database size (issue 10). First, indexes that another index already serves, or that hold every live
-- lifecycle for a query that only needs revoked ones. Each entry carried created_at and the
-- 36-character id (or the subscriber): 110 of the ~1,300 bytes of an allocated lifecycle.

-- The list without a filter reads the lifecycles_state index once per state, merged in
-- (created_at, id) order (store/lifecycles.ts, listSql): no sort, no second copy of every row's key.
-- That reads every row only if every row's state is one of the machine's states
-- (machines/types.ts LIFECYCLE_STATES): the counts of migration 006 assume so too; from here the
-- database refuses any other. A stored row of another state stops this migration (CHECK failed)
-- rather than vanish from the lists.
CREATE TEMP TABLE migration_013_rows_of_unknown_state (n INTEGER NOT NULL CHECK (n = 0));
INSERT INTO migration_013_rows_of_unknown_state
  SELECT count(*) FROM lifecycles WHERE state NOT IN ('pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed');
DROP TABLE migration_013_rows_of_unknown_state;
CREATE TRIGGER lifecycles_known_state_insert BEFORE INSERT ON lifecycles
WHEN NEW.state NOT IN ('pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed') BEGIN
  SELECT RAISE(ABORT, 'lifecycles.state is not a lifecycle state');
END;
CREATE TRIGGER lifecycles_known_state_update BEFORE UPDATE OF state ON lifecycles
WHEN NEW.state NOT IN ('pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed') BEGIN
  SELECT RAISE(ABORT, 'lifecycles.state is not a lifecycle state');
END;
DROP INDEX lifecycles_created;

-- latest(subscriber): the live lifecycle comes from lifecycles_live_subscriber already; only the
-- revoked ones need an index of their own, newest first (id included: it breaks equal times).
DROP INDEX lifecycles_subscriber;
CREATE INDEX lifecycles_revoked_subscriber ON lifecycles (subscriber_id, created_at, id) WHERE state = 'revoked';

-- The audit trail without its repeated text (about 60 of an entry's ~160 bytes): the lifecycle's
-- UUID as its 16 bytes, the time as milliseconds since the epoch, the event type and the states as
-- codes of audit_words. Each is stored so only when it reads back as the very text written (any
-- other id, time or word stays text), and `audit` is now a view that reads them back as text: every
-- reader and writer of `audit` (store/reconciliation.ts, an operator's sqlite3 shell) sees the
-- table it always saw; the store's own hot path writes audit_log directly (store/audit-codec.ts).
-- The view and its triggers use only functions every SQLite shell has (an id inserted through the
-- view stays text: unhex() needs 3.41), so an operator's sqlite3 reads and writes the trail as before.

-- Codes are part of the stored format: rows are appended, never changed.
CREATE TABLE audit_words (
  code INTEGER PRIMARY KEY,
  word TEXT NOT NULL UNIQUE
);
INSERT INTO audit_words (code, word) VALUES
  (0, 'pending'), (1, 'allocated'), (2, 'active'), (3, 'suspended'), (4, 'revoking'), (5, 'revoked'),
  (6, 'failed'), (7, 'CREATED'), (8, 'STEP_DONE'), (9, 'STEP_SKIPPED'), (10, 'STEP_FAILED'), (11, 'ACTIVATE'),
  (12, 'SUSPEND'), (13, 'REACTIVATE'), (14, 'UPDATE'), (15, 'RETRY'), (16, 'REVOKE'), (17, 'PENDING_RESOLVED'),
  (18, 'PENDING_DEFERRED'), (19, 'IMPORT'), (20, 'IMPORTED'), (21, 'RECONCILED');
CREATE TRIGGER audit_words_no_update BEFORE UPDATE ON audit_words BEGIN SELECT RAISE(ABORT, 'audit_words is append-only'); END;
CREATE TRIGGER audit_words_no_delete BEFORE DELETE ON audit_words BEGIN SELECT RAISE(ABORT, 'audit_words is append-only'); END;

-- BLOB columns have no affinity: an integer code stays an integer, a text stays the text it was.
ALTER TABLE audit RENAME TO audit_old;
CREATE TABLE audit_log (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  lifecycle_id  BLOB NOT NULL,   -- a lowercase UUID's 16 bytes, else the id's text
  subscriber_id TEXT NOT NULL,
  at            BLOB NOT NULL,   -- milliseconds since 1970 of a toISOString() text, else the text
  type          BLOB NOT NULL,   -- audit_words.code, else the text
  from_state    BLOB,            -- as type
  to_state      BLOB NOT NULL,   -- as type
  detail        TEXT             -- store/audit-codec.ts
);

CREATE VIEW audit (seq, lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) AS
  SELECT a.seq,
    CASE WHEN typeof(a.lifecycle_id) = 'blob' THEN lower(substr(hex(a.lifecycle_id), 1, 8) || '-' || substr(hex(a.lifecycle_id), 9, 4) || '-' || substr(hex(a.lifecycle_id), 13, 4) || '-' || substr(hex(a.lifecycle_id), 17, 4) || '-' || substr(hex(a.lifecycle_id), 21)) ELSE a.lifecycle_id END,
    a.subscriber_id,
    CASE WHEN typeof(a.at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', a.at / 1000.0, 'unixepoch') ELSE a.at END,
    CASE WHEN typeof(a.type) = 'integer' THEN (SELECT word FROM audit_words WHERE code = a.type) ELSE a.type END,
    CASE WHEN typeof(a.from_state) = 'integer' THEN (SELECT word FROM audit_words WHERE code = a.from_state) ELSE a.from_state END,
    CASE WHEN typeof(a.to_state) = 'integer' THEN (SELECT word FROM audit_words WHERE code = a.to_state) ELSE a.to_state END,
    a.detail
  FROM audit_log AS a;

CREATE TRIGGER audit_insert INSTEAD OF INSERT ON audit BEGIN
  INSERT INTO audit_log (seq, lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) VALUES (
    NEW.seq,
    CASE WHEN typeof(NEW.lifecycle_id) = 'blob' THEN NEW.lifecycle_id ELSE CAST(NEW.lifecycle_id AS TEXT) END,
    NEW.subscriber_id,
    CASE WHEN NEW.at >= '1970' AND strftime('%Y-%m-%dT%H:%M:%fZ', NEW.at) IS NEW.at
      THEN CAST(round((julianday(NEW.at) - 2440587.5) * 86400000) AS INTEGER) ELSE CAST(NEW.at AS TEXT) END,
    coalesce((SELECT code FROM audit_words WHERE word = NEW.type), CAST(NEW.type AS TEXT)),
    coalesce((SELECT code FROM audit_words WHERE word = NEW.from_state), CAST(NEW.from_state AS TEXT)),
    coalesce((SELECT code FROM audit_words WHERE word = NEW.to_state), CAST(NEW.to_state AS TEXT)),
    NEW.detail);
END;

-- Every entry so far, in seq order and with its seq, its UUID as bytes here (unhex() is in the
-- SQLite the service runs); the sequence goes on where it was (entries pruned at the end keep
-- their numbers unused).
INSERT INTO audit (seq, lifecycle_id, subscriber_id, at, type, from_state, to_state, detail)
  SELECT seq,
    CASE WHEN lifecycle_id GLOB '[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]' THEN unhex(replace(lifecycle_id, '-', '')) ELSE lifecycle_id END,
    subscriber_id, at, type, from_state, to_state, detail
  FROM audit_old ORDER BY seq;
INSERT INTO sqlite_sequence (name, seq) SELECT 'audit_log', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'audit_log');
UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_old'), 0)) WHERE name = 'audit_log';
-- Dropping a table fires no DELETE trigger; its own triggers and index go with it.
DROP TABLE audit_old;

-- An index entry ends with the rowid, which seq is: (subscriber_id) alone keeps seq order.
CREATE INDEX audit_subscriber ON audit_log (subscriber_id);

-- The guarantees of migrations 007 and 010, on the stored rows, whoever writes.
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit_log
WHEN NOT ((CASE WHEN typeof(OLD.at) = 'integer' THEN strftime('%Y-%m-%dT%H:%M:%fZ', OLD.at / 1000.0, 'unixepoch') ELSE OLD.at END) < coalesce((SELECT before FROM audit_prune_cut WHERE id = 1), '')
          AND coalesce((SELECT state FROM lifecycles WHERE id = (CASE WHEN typeof(OLD.lifecycle_id) = 'blob' THEN lower(substr(hex(OLD.lifecycle_id), 1, 8) || '-' || substr(hex(OLD.lifecycle_id), 9, 4) || '-' || substr(hex(OLD.lifecycle_id), 13, 4) || '-' || substr(hex(OLD.lifecycle_id), 17, 4) || '-' || substr(hex(OLD.lifecycle_id), 21)) ELSE OLD.lifecycle_id END)), 'revoked') = 'revoked')
BEGIN
  SELECT RAISE(ABORT, 'audit is append-only: only rows older than the prune cut, of revoked lifecycles, are ever deleted');
END;
CREATE TRIGGER audit_known_lifecycle BEFORE INSERT ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM lifecycles WHERE id = (CASE WHEN typeof(NEW.lifecycle_id) = 'blob' THEN lower(substr(hex(NEW.lifecycle_id), 1, 8) || '-' || substr(hex(NEW.lifecycle_id), 9, 4) || '-' || substr(hex(NEW.lifecycle_id), 13, 4) || '-' || substr(hex(NEW.lifecycle_id), 17, 4) || '-' || substr(hex(NEW.lifecycle_id), 21)) ELSE NEW.lifecycle_id END)) BEGIN
  SELECT RAISE(ABORT, 'audit entry of an unknown lifecycle');
END;
-- Through the view: an update is refused as the table's own would be; a delete is the table's.
CREATE TRIGGER audit_update INSTEAD OF UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_delete INSTEAD OF DELETE ON audit BEGIN DELETE FROM audit_log WHERE seq = OLD.seq; END;

-- live_prefixes held a row for every live prefix (26 bytes a lifecycle) to tell when a second live
-- lifecycle shows one. lifecycles_live_prefix (migration 009) answers that already, one index seek
-- per write: the table now keeps only the shared prefixes (normally none), for sharedPrefixes().
CREATE TABLE shared_prefixes (
  prefix TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO shared_prefixes (prefix) SELECT prefix FROM live_prefixes WHERE n > 1;
DROP TABLE live_prefixes;

-- Migration 006's triggers, their other statements as they were; `live` below is the number of
-- live lifecycles that show the prefix once the write is done (AFTER triggers); `shared` counts
-- the rows of shared_prefixes, by changes(): the rows the statement before it in the trigger wrote.
DROP TRIGGER lifecycle_counts_insert;
CREATE TRIGGER lifecycle_counts_insert AFTER INSERT ON lifecycles BEGIN
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'state:' || NEW.state;
  UPDATE lifecycle_counts SET n = n + 1 WHERE key = 'pending' AND NEW.next_pending_at IS NOT NULL;
  -- A second live lifecycle on the prefix: shared from now on (a third changes nothing).
  INSERT INTO shared_prefixes (prefix) SELECT NEW.prefix WHERE NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    AND (SELECT count(*) FROM lifecycles WHERE prefix = NEW.prefix AND state <> 'revoked') >= 2
    ON CONFLICT (prefix) DO NOTHING;
  UPDATE lifecycle_counts SET n = n + changes() WHERE key = 'shared';
  INSERT INTO pool_tally (pool, hour, prefix_length, allocated)
    SELECT NEW.pool, substr(NEW.allocated_at, 1, 13), NEW.prefix_length, 1 WHERE NEW.allocated_at IS NOT NULL
    ON CONFLICT (pool, hour, prefix_length) DO UPDATE SET allocated = allocated + 1;
END;

DROP TRIGGER lifecycle_counts_prefix;
CREATE TRIGGER lifecycle_counts_prefix AFTER UPDATE OF prefix, state ON lifecycles
WHEN OLD.prefix IS NOT NEW.prefix OR (OLD.state = 'revoked') <> (NEW.state = 'revoked') BEGIN
  -- The old pair leaves: one live lifecycle (or none) left on its prefix, no longer shared.
  DELETE FROM shared_prefixes WHERE prefix = OLD.prefix AND OLD.state <> 'revoked'
    AND (SELECT count(*) FROM lifecycles WHERE prefix = OLD.prefix AND state <> 'revoked') <= 1;
  UPDATE lifecycle_counts SET n = n - changes() WHERE key = 'shared';
  -- The new pair enters.
  INSERT INTO shared_prefixes (prefix) SELECT NEW.prefix WHERE NEW.prefix IS NOT NULL AND NEW.state <> 'revoked'
    AND (SELECT count(*) FROM lifecycles WHERE prefix = NEW.prefix AND state <> 'revoked') >= 2
    ON CONFLICT (prefix) DO NOTHING;
  UPDATE lifecycle_counts SET n = n + changes() WHERE key = 'shared';
END;

DROP TRIGGER lifecycle_counts_delete;
CREATE TRIGGER lifecycle_counts_delete AFTER DELETE ON lifecycles BEGIN
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'state:' || OLD.state;
  UPDATE lifecycle_counts SET n = n - 1 WHERE key = 'pending' AND OLD.next_pending_at IS NOT NULL;
  DELETE FROM shared_prefixes WHERE prefix = OLD.prefix AND OLD.state <> 'revoked'
    AND (SELECT count(*) FROM lifecycles WHERE prefix = OLD.prefix AND state <> 'revoked') <= 1;
  UPDATE lifecycle_counts SET n = n - changes() WHERE key = 'shared';
END;

-- The embedded IPAM's blocks keyed by (pool, start_hex) itself: the unique index of migration 002
-- was a second copy of every row's pool and address beside the rowid table. Rebuilt as
-- lang_altertable.html describes; the triggers of migrations 002 and 003 go with the old table and
-- are made again as they were. Every statement of services/ipam/embedded.ts reads by
-- (pool, start_hex) or by key, as before.
CREATE TABLE ipam_allocations_new (
  pool          TEXT NOT NULL,
  start_hex     TEXT NOT NULL CHECK (length(start_hex) = 32),
  end_hex       TEXT NOT NULL CHECK (length(end_hex) = 32 AND end_hex >= start_hex),
  prefix        TEXT NOT NULL,
  prefix_length INTEGER NOT NULL CHECK (prefix_length BETWEEN 0 AND 128),
  key           TEXT NOT NULL UNIQUE,
  lifecycle_id  TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  allocated_at  TEXT NOT NULL,
  PRIMARY KEY (pool, start_hex)
) WITHOUT ROWID;
INSERT INTO ipam_allocations_new (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
  SELECT pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at FROM ipam_allocations ORDER BY pool, start_hex;
DROP TABLE ipam_allocations;
ALTER TABLE ipam_allocations_new RENAME TO ipam_allocations;
CREATE TRIGGER ipam_allocations_no_overlap BEFORE INSERT ON ipam_allocations
WHEN (SELECT end_hex FROM ipam_allocations
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps an allocated block of the same pool');
END;
CREATE TRIGGER ipam_allocations_not_quarantined BEFORE INSERT ON ipam_allocations
WHEN (SELECT end_hex FROM ipam_quarantine
      WHERE pool = NEW.pool AND start_hex <= NEW.end_hex
      ORDER BY start_hex DESC LIMIT 1) >= NEW.start_hex
BEGIN
  SELECT RAISE(ABORT, 'ipam: block overlaps a quarantined block of the same pool');
END;
