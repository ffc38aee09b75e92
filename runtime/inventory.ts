import type { Logger } from 'pino';
import type { LifecycleContext } from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { LifecycleStore } from '../store/lifecycles.ts';
import type { PoolSpec } from './lifecycle-service.ts';

/** A prefix IPAM holds for us that no live lifecycle holds, or a live lifecycle's prefix IPAM lost. */
export interface Discrepancy {
  kind: 'leaked' | 'lost';
  pool: string;
  prefix: string;
  lifecycle_id: string;
}

/** Pool figures and leak detection: IPAM's holdings checked against the lifecycles. */
export function createInventory(deps: { store: LifecycleStore; ipam: IpamPort; pools: PoolSpec[] }) {
  /** Prefixes a lifecycle holds: current, and any half-done update's. */
  const heldBy = (lifecycleId: string): Set<string> => {
    const row = deps.store.get(lifecycleId);
    if (!row) return new Set();
    const ctx = (JSON.parse(row.snapshot) as { context: LifecycleContext }).context;
    // A lifecycle that is `revoking` or `failed` still owns what it has not given back yet.
    return new Set([ctx.held, ctx.next, ctx.retired].flatMap((p) => (p && row.state !== 'revoked' ? [p.prefix] : [])));
  };
  /** A lost allocation answer: IPAM may hold a prefix for it that the lifecycle cannot name yet. */
  const mayHoldUnknown = (lifecycleId: string): boolean => {
    const row = deps.store.get(lifecycleId);
    if (!row || row.state === 'revoked') return false;
    return (JSON.parse(row.snapshot) as { context: LifecycleContext }).context.unconfirmed.length > 0;
  };

  async function discrepancies(): Promise<Discrepancy[]> {
    const found: Discrepancy[] = [];
    const inIpam = new Set<string>();
    for (const a of await deps.ipam.held()) {
      inIpam.add(`${a.pool} ${a.prefix}`);
      if (!heldBy(a.lifecycleId).has(a.prefix) && !mayHoldUnknown(a.lifecycleId)) found.push({ kind: 'leaked', pool: a.pool, prefix: a.prefix, lifecycle_id: a.lifecycleId });
    }
    for (const state of ['allocated', 'active', 'suspended'] as const) {
      let after: string | undefined;
      for (;;) {
        const page = deps.store.list({ state, limit: 500, after });
        for (const row of page) {
          if (row.prefix && !inIpam.has(`${row.pool} ${row.prefix}`) && row.busy === 0) {
            found.push({ kind: 'lost', pool: row.pool, prefix: row.prefix, lifecycle_id: row.id });
          }
        }
        if (page.length < 500) break;
        after = page.at(-1)!.id;
      }
    }
    return found;
  }

  return {
    discrepancies,
    async leaks(): Promise<number> {
      return (await discrepancies()).filter((d) => d.kind === 'leaked').length;
    },
    /** The scheduled leak check: logs every discrepancy for an operator to act on. */
    async check(log: Logger): Promise<void> {
      for (const d of await discrepancies()) log.warn(d, d.kind === 'leaked' ? 'IPAM holds a prefix no live lifecycle holds' : 'a live lifecycle holds a prefix IPAM does not');
    },
    async summary() {
      const util = await deps.ipam.utilization();
      const counts = deps.store.countByState();
      return {
        pools: util.map((u) => ({
          name: u.name,
          prefix: u.prefix,
          prefix_length: u.prefixLength,
          capacity: u.capacity,
          allocated: u.allocated,
          held_down: u.heldDown ?? 0,
          utilization_percent: u.capacity === 0 ? 0 : Math.round((u.allocated / u.capacity) * 10_000) / 100,
        })),
        states: Object.fromEntries(['pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed'].map((s) => [s, counts[s] ?? 0])),
        leaks: (await discrepancies()).filter((d) => d.kind === 'leaked').length,
      };
    },
  };
}
