// What the kill-churn review reads from the shared PostgreSQL once the fleet has settled: every way
// the store, the embedded IPAM, the leases, the idempotency keys and the audit trail disagree.
// Read only; table names are those of store/migrations/postgresql/.
import { chainProblems } from '../support/audit-chain.ts';
import { ipamAgreesWithStore, type InvariantDb } from '../support/instances-db.ts';

/** Lifecycles in a state that should not outlast a few leases with every instance up. */
export async function transient(db: InvariantDb): Promise<{ id: string; subscriber_id: string; state: string; busy: number }[]> {
  const { rows } = await db.pool.query<{ id: string; subscriber_id: string; state: string; busy: number }>(
    "SELECT id, subscriber_id, state, busy FROM lifecycles WHERE state IN ('pending', 'revoking', 'failed') OR busy = 1 ORDER BY subscriber_id",
  );
  return rows;
}

/** Every invariant of the fleet's data, as a list of problems (empty when all hold). */
export async function fleetProblems(db: InvariantDb): Promise<string[]> {
  const problems: string[] = [];
  const q = async <T extends object>(sql: string) => (await db.pool.query<T>(sql)).rows;
  for (const r of await q<{ prefix: string; ids: string }>(
    "SELECT prefix, string_agg(id, ',') AS ids FROM lifecycles WHERE state <> 'revoked' AND prefix IS NOT NULL GROUP BY prefix HAVING count(*) > 1",
  )) problems.push(`prefix ${r.prefix} on two live lifecycles: ${r.ids}`);
  for (const r of await q<{ prefix: string; n: number }>('SELECT prefix, count(*)::int AS n FROM ipam_allocations GROUP BY prefix HAVING count(*) > 1')) {
    problems.push(`IPAM holds ${r.prefix} ${r.n} times`);
  }
  for (const r of await q<{ prefix: string }>('SELECT a.prefix FROM ipam_allocations a JOIN ipam_quarantine q ON q.block && a.block')) {
    problems.push(`IPAM has ${r.prefix} both allocated and in quarantine`);
  }
  problems.push(...(await ipamAgreesWithStore(db)));
  for (const s of await db.subscribersWithTwoLive()) problems.push(`subscriber ${s} has two live lifecycles`);
  for (const r of await q<{ id: string; prefix: string }>(
    // Held down for 600 s: a revoked prefix is in quarantine, or its subscriber got it back (sticky blocks).
    `SELECT l.id, l.prefix FROM lifecycles l WHERE l.state = 'revoked' AND l.prefix IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM ipam_quarantine q WHERE q.prefix = l.prefix AND q.subscriber_id = l.subscriber_id)
       AND NOT EXISTS (SELECT 1 FROM ipam_allocations a WHERE a.prefix = l.prefix AND a.subscriber_id = l.subscriber_id)`,
  )) problems.push(`revoked lifecycle ${r.id}'s ${r.prefix} is neither in quarantine nor back with its subscriber`);
  for (const r of await q<{ key: string }>('SELECT key FROM idempotency WHERE status = 202')) problems.push(`idempotency key ${r.key} still pending`);
  for (const r of await q<{ subscriber_id: string; owner: string }>('SELECT subscriber_id, owner FROM leases WHERE expires_at > now() AND left(subscriber_id, 1) <> chr(1)')) {
    problems.push(`lease on ${r.subscriber_id} still held by ${r.owner} with nothing in flight`);
  }
  const lifecycles = await q<{ id: string; subscriber_id: string; state: string }>('SELECT id, subscriber_id, state FROM lifecycles');
  const trails = new Map<string, { type: string; from: string | null; to: string; label: string }[]>();
  for (const a of await q<{ seq: number; lifecycle_id: string; type: string; from_state: string | null; to_state: string }>(
    'SELECT seq::int AS seq, lifecycle_id, type, from_state, to_state FROM audit ORDER BY seq',
  )) {
    const t = trails.get(a.lifecycle_id) ?? [];
    t.push({ type: a.type, from: a.from_state, to: a.to_state, label: `seq ${a.seq}` });
    trails.set(a.lifecycle_id, t);
  }
  for (const l of lifecycles) problems.push(...chainProblems(`${l.subscriber_id}/${l.id.slice(0, 8)}`, trails.get(l.id) ?? [], l.state));
  return problems;
}
