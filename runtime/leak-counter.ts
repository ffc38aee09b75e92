import { setImmediate as nextTurn } from 'node:timers/promises';
import type { LeakRecord } from '../store/counts.ts';
import type { CountsPort, LifecyclePort } from '../store/port.ts';
import type { ListCursor } from '../store/lifecycles.ts';
import type { Discrepancy } from './inventory.ts';
import { readContext } from './projection.ts';

/**
 * ipv6_prefix_leak_total: a prefix not returned to IPAM within `leakAfterS` of its lifecycle's
 * termination. "Not returned" is, at a leak check:
 * - IPAM still marks the prefix for a lifecycle that is revoked, unknown, or no longer shows it
 *   (the inventory's `leaked` discrepancy); the termination is the lifecycle's `revoked_at`, or,
 *   when there is none, the time a check first saw the prefix;
 * - a lifecycle `failed` in a revocation step still has its prefix: IPAM holds it allocated or
 *   quarantined and will never hand it out; the termination is the failure's time.
 * Each (lifecycle, prefix) is counted once: counted ones are stored (store/counts.ts), so neither
 * the next check nor a restart counts it again. One seen but returned before the threshold is
 * forgotten.
 */
/** Failed lifecycles read a page at a time, a turn of the event loop between, as the inventory walks its pages (runtime/inventory.ts PAGE). */
export const FAILED_PAGE = 250;

/**
 * Findings looked up per turn of the event loop. The SQLite store answers each at once, so awaiting
 * it gives nothing back: 100,000 leaked prefixes (a release path broken for a day) were one turn of
 * two lookups each.
 */
export const LEAK_SLICE = 500;

export function createLeakCounter(deps: { counts: CountsPort; store: Pick<LifecyclePort, 'get'>; leakAfterS: number; now?: () => number }) {
  const now = deps.now ?? Date.now;

  async function failedInRevocation(): Promise<{ lifecycle_id: string; prefix: string; pool: string; terminated: string }[]> {
    const out: { lifecycle_id: string; prefix: string; pool: string; terminated: string }[] = [];
    let after: ListCursor | undefined;
    for (;;) {
      const page = await deps.counts.failedPage(FAILED_PAGE, after);
      for (const row of page) {
        if (row.prefix === null || row.snapshot === null) continue;
        const ctx = readContext({ ...row, snapshot: row.snapshot });
        if (ctx.failedAt?.startsWith('revoke_')) out.push({ lifecycle_id: row.id, prefix: row.prefix, pool: row.pool, terminated: ctx.failure?.at ?? row.updated_at });
      }
      if (page.length < FAILED_PAGE) return out;
      after = page.at(-1);
      await nextTurn();
    }
  }

  return {
    /** Takes a leak check's findings; returns how many prefixes it counted now for the first time. */
    async record(found: readonly Discrepancy[]): Promise<number> {
      const t = now();
      const at = new Date(t).toISOString();
      const candidates: { lifecycle_id: string; prefix: string; pool: string; terminated: string | null }[] = [];
      let looked = 0;
      for (const d of found) {
        if (d.kind !== 'leaked') continue;
        if (++looked % LEAK_SLICE === 0) await nextTurn();
        const row = await deps.store.get(d.lifecycle_id);
        candidates.push({ lifecycle_id: d.lifecycle_id, prefix: d.prefix, pool: d.pool, terminated: row?.state === 'revoked' ? row.revoked_at : null });
      }
      // One by one: a spread of every failed revocation overflows the stack past ~120k (services/ipam/router.ts append).
      for (const c of await failedInRevocation()) candidates.push(c);
      const records: LeakRecord[] = [];
      const seen = new Set<string>();
      let counted = 0;
      for (const c of candidates) {
        // One prefix of one lifecycle is one leak, however many findings name it.
        const key = `${c.lifecycle_id} ${c.prefix}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (seen.size % LEAK_SLICE === 0) await nextTurn();
        const stored = await deps.counts.leak(c.lifecycle_id, c.prefix);
        if (stored?.counted_at) {
          records.push(stored);
          continue;
        }
        const firstSeen = stored?.first_seen_at ?? at;
        const since = Date.parse(c.terminated ?? firstSeen);
        const due = t - since >= deps.leakAfterS * 1000;
        if (due) counted++;
        records.push({ lifecycle_id: c.lifecycle_id, prefix: c.prefix, pool: c.pool, first_seen_at: firstSeen, counted_at: due ? at : null });
      }
      await deps.counts.replaceUncounted(records);
      return counted;
    },
  };
}
