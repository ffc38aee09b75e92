-- Database size (issue 10): indexes that another index already serves, or that hold every live
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

-- An index entry ends with the rowid, which seq is: (subscriber_id) alone keeps seq order.
DROP INDEX audit_subscriber;
CREATE INDEX audit_subscriber ON audit (subscriber_id);
