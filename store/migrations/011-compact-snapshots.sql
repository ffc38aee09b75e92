-- Snapshots are stored compact (version 2, store/snapshot-codec.ts): what the row's columns hold and
-- every default is left out, about 30 bytes instead of 650-700 for a settled lifecycle. This rewrites
-- the ones stored before; compact_snapshot() is the codec itself, registered by store/db.ts.
UPDATE lifecycles
SET snapshot = compact_snapshot(id, subscriber_id, pool, prefix, prefix_length, netbox_prefix_id, username, cpe_id,
  allocated_at, activated_at, suspended_at, revoked_at, snapshot)
WHERE snapshot NOT LIKE '{"v":2,%';
