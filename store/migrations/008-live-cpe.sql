-- Which live lifecycle a CPE serves now: a revoked lifecycle's pending CPE removal must not run
-- once another lifecycle has configured the same CPE (the pending worker asks this per step).
CREATE INDEX lifecycles_live_cpe ON lifecycles (cpe_id, created_at) WHERE cpe_id IS NOT NULL AND state <> 'revoked';
