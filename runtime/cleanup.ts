import type { Logger } from 'pino';
import type { IpamPort } from '../services/ipam/port.ts';
import type { LifecycleStore } from '../store/lifecycles.ts';
import type { Discrepancy } from './inventory.ts';
import type { LifecycleService } from './lifecycle-service.ts';

export interface CleanupOptions {
  store: LifecycleStore;
  service: LifecycleService;
  ipam: IpamPort;
  discrepancies: () => Promise<Discrepancy[]>;
  log: Logger;
  /** Revoke lifecycles left `allocated` (never activated) longer than this; 0 turns it off. */
  staleAllocatedAfterS: number;
  /** Give back prefixes IPAM still holds for lifecycles that are revoked. */
  reclaimLeaks: boolean;
}

/** The scheduled clean-up: stale allocations revoked, leaked prefixes reclaimed, NetBox hold-downs swept. */
export function createCleanup(o: CleanupOptions) {
  async function revokeStale(): Promise<number> {
    if (o.staleAllocatedAfterS <= 0) return 0;
    const cutoff = new Date(Date.now() - o.staleAllocatedAfterS * 1000).toISOString();
    let n = 0;
    let after: string | undefined;
    for (;;) {
      const page = o.store.list({ state: 'allocated', limit: 500, after });
      for (const row of page) {
        if (row.busy === 1 || !row.allocated_at || row.allocated_at >= cutoff) continue;
        try {
          await o.service.revoke({ subscriber_id: row.subscriber_id, reason: `stale: allocated at ${row.allocated_at}, never activated` }, 0);
          n++;
        } catch (err) {
          o.log.warn({ subscriber_id: row.subscriber_id, err: String(err) }, 'could not revoke a stale allocation');
        }
      }
      if (page.length < 500) return n;
      after = page.at(-1)!.id;
    }
  }

  async function reclaim(): Promise<number> {
    if (!o.reclaimLeaks) return 0;
    let n = 0;
    for (const d of await o.discrepancies()) {
      // Only a prefix whose own lifecycle is over is unambiguous; anything else is left to an operator.
      if (d.kind !== 'leaked' || o.store.get(d.lifecycle_id)?.state !== 'revoked') continue;
      await o.ipam.release({ lifecycleId: d.lifecycle_id, pool: d.pool, prefix: d.prefix, netboxPrefixId: null });
      o.log.warn(d, 'reclaimed a prefix IPAM still held for a revoked lifecycle');
      n++;
    }
    return n;
  }

  return {
    async run() {
      const revoked = await revokeStale();
      const reclaimed = await reclaim();
      const sweep = 'sweep' in o.ipam && typeof o.ipam.sweep === 'function' ? await (o.ipam.sweep as () => Promise<unknown>)() : null;
      if (revoked || reclaimed) o.log.info({ revoked, reclaimed, sweep }, 'clean-up done');
      return { revoked, reclaimed, sweep };
    },
  };
}
