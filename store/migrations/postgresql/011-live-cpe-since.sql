-- SQLite's migration 020: newerOnCpe (store/postgresql/lifecycles.ts NEWER_ON_CPE) orders a CPE's
-- live lifecycles by coalesce(activated_at, created_at); an index on created_at made it read all of
-- them and sort. On the expression it is one backward index seek that stops at the first row.
DROP INDEX lifecycles_live_cpe;
CREATE INDEX lifecycles_live_cpe_since ON lifecycles (cpe_id, (coalesce(activated_at, created_at))) WHERE cpe_id IS NOT NULL AND state <> 'revoked';
