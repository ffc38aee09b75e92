// Opens the store on PostgreSQL: a bounded pool, the migrations applied, the port's parts on it.
import type { StorePort } from '../port.ts';
import { createPgAuditRetention } from './audit-retention.ts';
import { createPgMetricCounts } from './counts.ts';
import { createPgIdempotencyStore, createPgRetentionStore } from './keys.ts';
import { createPgLeaseStore, type LeaseStore } from './leases.ts';
import { createPgLifecycleStore } from './lifecycles.ts';
import { createPgPool, migrate, type PgPoolOptions } from './pool.ts';
import { createPgPoolUse } from './pool-use.ts';
import { createPgProbe } from './probe.ts';
import { createPgReconciliationStore } from './reconciliation.ts';

export async function openPostgresStore(
  o: PgPoolOptions,
): Promise<StorePort & { pool: import('pg').Pool; leases: LeaseStore; renewals: Pick<LeaseStore, 'renewMany'> }> {
  const pool = createPgPool(o);
  try {
    await migrate(pool);
  } catch (err) {
    await pool.end();
    throw err;
  }
  // Lease renewals on a connection of their own: queued behind a burst of requests in the shared
  // pool, they would let leases run out under load and hand live work to another instance.
  const renewPool = createPgPool({ ...o, max: 1 });
  // Once, however often asked: a refused start closes it in the run's stop and again in its
  // discard, and pg's second end() throws ("Called end on pool more than once") over the cause.
  let closed: Promise<void> | null = null;
  return {
    backend: 'postgresql',
    pool,
    lifecycles: createPgLifecycleStore(pool),
    idempotency: createPgIdempotencyStore(pool),
    retention: createPgRetentionStore(pool),
    counts: createPgMetricCounts(pool),
    poolUse: createPgPoolUse(pool),
    reconciliation: createPgReconciliationStore(pool),
    auditRetention: createPgAuditRetention(pool),
    probe: createPgProbe(pool),
    leases: createPgLeaseStore(pool),
    renewals: createPgLeaseStore(renewPool),
    close: () => (closed ??= Promise.all([pool.end(), renewPool.end()]).then(() => undefined)),
  };
}
