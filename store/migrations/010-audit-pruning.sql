-- Audit retention (issue 10): the trail may be pruned, and stays append-only for every row it keeps.
-- No row is ever updated (audit_no_update stands); a row may be deleted only when it is older than
-- the cut the pruner stored here and its lifecycle is revoked (or no longer stored: retention
-- deletes lifecycles only once revoked). Anything else, pruner or not, is refused by the trigger.
-- Runs after migration 007 (retention), which rebuilt audit with an unconditional trigger.
CREATE TABLE audit_prune_cut (
  id     INTEGER PRIMARY KEY CHECK (id = 1),
  before TEXT NOT NULL
);
DROP TRIGGER audit_no_delete;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
WHEN NOT (OLD.at < coalesce((SELECT before FROM audit_prune_cut WHERE id = 1), '')
          AND coalesce((SELECT state FROM lifecycles WHERE id = OLD.lifecycle_id), 'revoked') = 'revoked')
BEGIN
  SELECT RAISE(ABORT, 'audit is append-only: only rows older than the prune cut, of revoked lifecycles, are ever deleted');
END;
