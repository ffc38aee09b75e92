-- The pending worker reads the due rows a page at a time, each page after the last row of the one
-- before (20,000 due in one statement were 42-83 ms of one turn of the loop, issue 10): a keyset on
-- (next_pending_at, id). The index carries id for that seek and for the order, without a sort.
DROP INDEX lifecycles_next_pending;
CREATE INDEX lifecycles_next_pending ON lifecycles (next_pending_at, id) WHERE next_pending_at IS NOT NULL;
