-- A revocation's release quarantines a block until the revocation has finished (RADIUS removed,
-- sessions handled, CPE done or queued); only then is it freed and its hold-down starts. Until
-- freed_at is set, reusable_at is the far future, so every reusable_at <= now test leaves it alone.
-- subscriber_id lets a sticky pool give a subscriber its old block back within the hold-down.
-- Blocks held down before this migration were freed when they were released.
ALTER TABLE ipam_quarantine ADD COLUMN subscriber_id TEXT;
ALTER TABLE ipam_quarantine ADD COLUMN freed_at TEXT;
UPDATE ipam_quarantine SET freed_at = released_at;
CREATE INDEX ipam_quarantine_subscriber ON ipam_quarantine (pool, subscriber_id) WHERE subscriber_id IS NOT NULL;
CREATE INDEX ipam_quarantine_lifecycle ON ipam_quarantine (lifecycle_id);
