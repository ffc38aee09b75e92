-- Retention (issue 9): the `cleanup` job deletes lifecycles revoked longer ago than
-- `jobs.cleanup.retention_days`, and their audit trail must stay readable. The trail outlives its
-- lifecycle, so audit.lifecycle_id can no longer reference lifecycles (foreign keys are on). SQLite
-- cannot drop a constraint: the table is rebuilt as https://www.sqlite.org/lang_altertable.html
-- ("making other kinds of table schema changes") describes, seq values kept.
CREATE TABLE audit_new (
  seq           INTEGER PRIMARY KEY AUTOINCREMENT,
  lifecycle_id  TEXT NOT NULL,
  subscriber_id TEXT NOT NULL,
  at            TEXT NOT NULL,
  type          TEXT NOT NULL,
  from_state    TEXT,
  to_state      TEXT NOT NULL,
  detail        TEXT
);
INSERT INTO audit_new (seq, lifecycle_id, subscriber_id, at, type, from_state, to_state, detail)
  SELECT seq, lifecycle_id, subscriber_id, at, type, from_state, to_state, detail FROM audit;
-- Dropping a table fires no DELETE trigger; its own triggers and indexes go with it.
DROP TABLE audit;
ALTER TABLE audit_new RENAME TO audit;
CREATE INDEX audit_subscriber ON audit (subscriber_id, seq);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
-- What the foreign key checked on the way in still holds: an entry is written for a lifecycle that
-- exists (one primary-key lookup, as the key's check was); only its later deletion is allowed.
CREATE TRIGGER audit_known_lifecycle BEFORE INSERT ON audit
WHEN NOT EXISTS (SELECT 1 FROM lifecycles WHERE id = NEW.lifecycle_id) BEGIN
  SELECT RAISE(ABORT, 'audit entry of an unknown lifecycle');
END;

-- The retention query: revoked lifecycles, oldest revocation first, without scanning the others.
CREATE INDEX lifecycles_revoked_at ON lifecycles (revoked_at, id) WHERE state = 'revoked';
