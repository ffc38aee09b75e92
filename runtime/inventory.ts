import type { Logger } from 'pino';
import { markedUnder } from '../services/ipam/marked.ts';
import type { IpamPort, MarkedPrefix } from '../services/ipam/port.ts';
import type { LifecycleRow, LifecycleStore, ListCursor } from '../store/lifecycles.ts';
import { readContext } from './projection.ts';

/**
 * A prefix IPAM holds for us that no live lifecycle holds, a live lifecycle's prefix IPAM lost, or a
 * prefix two live lifecycles show (a revocation that failed after IPAM took its prefix back, and the
 * prefix went to someone else once its hold-down ended).
 */
export interface Discrepancy {
  kind: 'leaked' | 'lost' | 'shared';
  pool: string;
  prefix: string;
  lifecycle_id: string;
  /** Of a leaked prefix: the key its mark names (a NetBox description's digest of it). */
  key?: string;
}

/** Pool figures and leak detection: IPAM's holdings checked against the lifecycles. */
export type Inventory = ReturnType<typeof createInventory>;

export function createInventory(deps: { store: LifecycleStore; ipam: IpamPort; onChecked?: (found: Discrepancy[]) => void }) {
  /**
   * Whether the lifecycle may hold the marked prefix. The row's own prefix column answers most cases;
   * the snapshot is read only for the rest (a half-done update, a lost allocation answer). A
   * lifecycle with a step in flight may be about to record what IPAM just gave it, so it is never a
   * leak; nor is a prefix under one of its unconfirmed attempts' keys, which a retry would find and
   * its revocation gives back. Anything else under its mark (a POST that committed after its client
   * gave up, under a key since confirmed with another prefix) is unambiguously no one's.
   */
  const mayHold = (row: LifecycleRow | undefined, m: MarkedPrefix): boolean => {
    if (!row || row.state === 'revoked') return false;
    if (row.busy === 1 || row.prefix === m.prefix) return true;
    const ctx = readContext(row);
    if (ctx.unconfirmed.some((a) => markedUnder(m, a.key))) return true;
    return [ctx.current, ctx.next, ctx.retired].some((p) => p?.prefix === m.prefix);
  };

  async function discrepancies(): Promise<Discrepancy[]> {
    const found: Discrepancy[] = [];
    const inIpam = new Set<string>();
    for (const a of await deps.ipam.markedPrefixes()) {
      inIpam.add(`${a.pool} ${a.prefix}`);
      if (!mayHold(deps.store.get(a.lifecycleId), a)) found.push({ kind: 'leaked', pool: a.pool, prefix: a.prefix, lifecycle_id: a.lifecycleId, key: a.key });
    }
    for (const { prefix, lifecycle_ids } of deps.store.sharedPrefixes()) {
      for (const id of lifecycle_ids) found.push({ kind: 'shared', pool: deps.store.get(id)?.pool ?? '', prefix, lifecycle_id: id });
    }
    for (const state of ['allocated', 'active', 'suspended'] as const) {
      let after: ListCursor | undefined;
      for (;;) {
        const page = deps.store.list({ state, limit: 500, after });
        for (const row of page) {
          if (row.prefix && !inIpam.has(`${row.pool} ${row.prefix}`) && row.busy === 0) {
            found.push({ kind: 'lost', pool: row.pool, prefix: row.prefix, lifecycle_id: row.id });
          }
        }
        if (page.length < 500) break;
        after = page.at(-1);
      }
    }
    // Every check feeds the leak counter (runtime/leak-counter.ts), whoever asked for it.
    deps.onChecked?.(found);
    return found;
  }

  // Scrapes and the API read the last count, so a scrape never walks the whole IPAM; the scheduled
  // check and the clean-up refresh it.
  let cached: { at: number; leaks: Promise<number> } | null = null;
  const refresh = (): Promise<number> => {
    const leaks = discrepancies().then((d) => d.filter((x) => x.kind === 'leaked').length);
    cached = { at: Date.now(), leaks };
    leaks.catch(() => (cached = null));
    return leaks;
  };

  /** Leaked prefixes as of the last check (at most `maxAgeMs` old). */
  const leaks = (maxAgeMs = 60_000): Promise<number> => (cached && Date.now() - cached.at <= maxAgeMs ? cached.leaks : refresh());

  return {
    discrepancies,
    refresh,
    leaks,
    /** The scheduled leak check: logs every discrepancy for an operator to act on. */
    async check(log: Logger): Promise<void> {
      const found = await discrepancies();
      cached = { at: Date.now(), leaks: Promise.resolve(found.filter((d) => d.kind === 'leaked').length) };
      const what = { leaked: 'IPAM holds a prefix no live lifecycle holds', lost: 'a live lifecycle holds a prefix IPAM does not', shared: 'two live lifecycles show the same prefix' };
      for (const d of found) (d.kind === 'shared' ? log.error(d, what.shared) : log.warn(d, what[d.kind]));
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
          draining: u.draining ?? false,
        })),
        states: Object.fromEntries(['pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed'].map((s) => [s, counts[s] ?? 0])),
        leaks: await leaks(),
      };
    },
  };
}
