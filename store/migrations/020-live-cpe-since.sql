-- newerOnCpe (store/lifecycles.ts NEWER_ON_CPE) asks for the latest live lifecycle on a CPE by
-- coalesce(activated_at, created_at), the time it took the CPE over; migration 008's index is on
-- created_at, so the query read every live row of the CPE and sorted them (59 ms a call with 20,000
-- on one CPE, once per due CPE step: bench/scans.ts benchPending). On the expression instead, it is
-- one seek. SQLite matches an index expression only as written: the query spells it the same way.
DROP INDEX lifecycles_live_cpe;
CREATE INDEX lifecycles_live_cpe_since ON lifecycles (cpe_id, coalesce(activated_at, created_at)) WHERE cpe_id IS NOT NULL AND state <> 'revoked';
