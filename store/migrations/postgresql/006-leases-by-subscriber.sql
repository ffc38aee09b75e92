-- Leases are taken per subscriber, not per lifecycle (issue 11): the runtime serializes a
-- subscriber's operations, and an allocation has no lifecycle id before it is leased.
ALTER TABLE leases RENAME COLUMN lifecycle_id TO subscriber_id;
