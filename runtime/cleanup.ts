import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { stepKey } from '../machines/steps.ts';
import { keyDigest } from '../services/ipam/marked.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { LifecycleRow, ListCursor } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { Discrepancy, Inventory } from './inventory.ts';
import { LEAK_SLICE } from './leak-counter.ts';
import type { LifecycleService } from './lifecycle-service.ts';
import { readContext } from './projection.ts';

/** How many stale revocations the clean-up has under way at once. */
export const STALE_IN_FLIGHT = 4;
/**
 * How long the clean-up waits for one to end before it starts the next anyway: a peer down makes
 * each revocation wait out its retries, and a backlog of them must not hold the job for hours.
 */
export const STALE_WAIT_MS = 5000;
/**
 * How many of its revocations may be unfinished (past their wait, a peer hanging) before the job
 * stops starting more: the rest are left for its next run, so the pile-up stays bounded.
 */
export const STALE_UNFINISHED_MAX = 64;

export interface CleanupDeps {
  store: Pick<LifecyclePort, 'list' | 'get'>;
  service: Pick<LifecycleService, 'revoke'>;
  ipam: IpamPort;
  /** Leak detection: its check runs first, and its count is refreshed once a prefix was reclaimed. */
  inventory: Pick<Inventory, 'check' | 'discrepancies' | 'refresh'>;
  log: Logger;
  /** Revoke lifecycles left `allocated` (never activated) longer than this; 0 turns it off. */
  staleAllocatedAfterS: number;
  /** Free prefixes IPAM holds under a settled lifecycle's mark that the lifecycle does not hold (see `reclaim`). */
  reclaimLeaks: boolean;
  /** The stale revocations' pacing (tests shorten it): STALE_IN_FLIGHT, STALE_WAIT_MS, STALE_UNFINISHED_MAX. */
  stalePacing?: { inFlight: number; waitMs: number; unfinishedMax: number };
}

// How many generations past its own a restored lifecycle is looked for in a digest mark: updates
// since the backup; past that a digest reads as any other key.
const GENERATIONS_AHEAD = 64;

/**
 * Whether `key` (or its digest, as a NetBox description keeps it) is an allocation key of a
 * generation the lifecycle has not reached: the store is older than IPAM (restored from a backup),
 * and the prefix is the one a later update moved the subscriber onto. Any other key (an earlier
 * generation's, a duplicate, a stray one) is a leak as before.
 */
function aheadOf(lifecycleId: string, generation: number, key: string): boolean {
  const own = `${lifecycleId}:allocate:`;
  if (key.startsWith(own)) {
    const g = key.slice(own.length);
    return /^\d+$/.test(g) && Number(g) > generation;
  }
  for (let g = generation + 1; g <= generation + GENERATIONS_AHEAD; g++) if (key === keyDigest(stepKey(lifecycleId, 'allocate', g))) return true;
  return false;
}

/** The scheduled job: the leak check, then the clean-up (stale allocations revoked, leaked prefixes reclaimed, NetBox hold-downs swept). */
export function createCleanup(deps: CleanupDeps) {
  async function revokeStale(): Promise<number> {
    if (deps.staleAllocatedAfterS <= 0) return 0;
    const cutoff = new Date(Date.now() - deps.staleAllocatedAfterS * 1000).toISOString();
    const pace = deps.stalePacing ?? { inFlight: STALE_IN_FLIGHT, waitMs: STALE_WAIT_MS, unfinishedMax: STALE_UNFINISHED_MAX };
    let n = 0;
    let unfinished = 0;
    const inFlight = new Set<Promise<void>>();
    const stale = (row: LifecycleRow | null | undefined): row is LifecycleRow & { allocated_at: string } =>
      !!row && row.state === 'allocated' && row.busy !== 1 && !!row.allocated_at && row.allocated_at < cutoff;
    const revokeOne = async (listed: LifecycleRow) => {
      // Read again: it waited its turn behind earlier revocations, and may have been activated meanwhile.
      // A failed read is this row's failure (warned, as a failed revocation is): its promise waits
      // in the set with nothing attached while the loop reads on, so it must not reject.
      const row = await Promise.resolve()
        .then(() => deps.store.get(listed.id))
        .catch((err: unknown) => void deps.log.warn({ subscriber_id: listed.subscriber_id, err: String(err) }, 'could not re-read a stale allocation'));
      if (!stale(row)) return;
      let accepted: Awaited<ReturnType<LifecycleService['revoke']>> | null;
      try {
        accepted = await deps.service.revoke({ subscriber_id: row.subscriber_id, reason: `stale: allocated at ${row.allocated_at}, never activated` }, 0);
        n++;
      } catch (err) {
        deps.log.warn({ subscriber_id: row.subscriber_id, err: String(err) }, 'could not revoke a stale allocation');
        return;
      }
      // Its steps go on after the answer: the next one starts once one has ended, so a backlog of
      // stale allocations takes a bounded share of the event loop instead of starving the API.
      unfinished++;
      const ended = Promise.resolve(accepted?.final)
        .then(
          () => undefined,
          (err: unknown) => void deps.log.warn({ subscriber_id: row.subscriber_id, err: String(err) }, 'a stale allocation\'s revocation did not end revoked'),
        )
        .finally(() => unfinished--);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, pace.waitMs)))]);
      clearTimeout(timer);
    };
    let after: ListCursor | undefined;
    let full = false;
    for (;;) {
      const page = await deps.store.list({ state: 'allocated', limit: 500, after });
      for (const row of page) {
        if (!stale(row)) continue;
        if (inFlight.size >= pace.inFlight) await Promise.race(inFlight);
        if (unfinished >= pace.unfinishedMax) {
          full = true;
          deps.log.warn({ unfinished, revoked: n }, 'stale revocations unfinished (a peer slow or down?): the rest are left for the next clean-up');
          break;
        }
        const one: Promise<void> = revokeOne(row).finally(() => inFlight.delete(one));
        inFlight.add(one);
      }
      if (full || page.length < 500) break;
      after = page.at(-1);
      await nextTurn();
    }
    await Promise.all(inFlight);
    return n;
  }

  /**
   * Frees every leaked prefix whose lifecycle is known and settled: its mark names the lifecycle and
   * the key, and the leak check has ruled out what the lifecycle holds and its unconfirmed attempts,
   * so nobody ever used it or will. Freed, not quarantined: no CPE was ever given it, or its
   * revocation has ended. A mark naming a lifecycle this store does not know is left to an operator,
   * and so is one under a key of a generation the lifecycle has not reached: the store is older than
   * IPAM (restored from a backup), and the prefix is the one a later update moved the subscriber onto.
   */
  async function reclaim(found: readonly Discrepancy[]): Promise<number> {
    if (!deps.reclaimLeaks) return 0;
    let n = 0;
    let looked = 0;
    for (const d of found) {
      if (d.kind !== 'leaked') continue;
      // The embedded IPAM frees at once as the store reads: awaiting either gives the loop nothing back.
      if (++looked % LEAK_SLICE === 0) await nextTurn();
      // Read again: a step may have started since the check (it then holds or will confirm its own).
      const row = await deps.store.get(d.lifecycle_id);
      if (!row || row.busy === 1) continue;
      if (d.key !== undefined && aheadOf(d.lifecycle_id, readContext(row).generation, d.key)) {
        deps.log.warn({ ...d, state: row.state }, 'not reclaimed: IPAM holds it under a key of a generation this lifecycle has not reached (a database older than IPAM?)');
        continue;
      }
      try {
        await deps.ipam.free({ lifecycleId: d.lifecycle_id, subscriberId: row.subscriber_id, pool: d.pool, prefix: d.prefix, netboxPrefixId: null });
      } catch (err) {
        deps.log.warn({ ...d, err: String(err) }, 'could not reclaim a leaked prefix; the next clean-up tries again');
        continue;
      }
      deps.log.warn({ ...d, state: row.state }, 'reclaimed a prefix IPAM held under a lifecycle\'s mark that the lifecycle does not hold');
      n++;
    }
    return n;
  }

  /** The `leaks` job (runtime/jobs.ts): the leak check, leaked prefixes reclaimed, NetBox hold-downs swept. */
  async function leaks() {
    // The check's own findings: a second walk of a million holdings would find the same.
    const found = await deps.inventory.check(deps.log);
    const reclaimed = await reclaim(found);
    const sweep = 'sweep' in deps.ipam && typeof deps.ipam.sweep === 'function' ? await (deps.ipam.sweep as () => Promise<unknown>)() : null;
    // Scrapes read the cached leak count: without this they would show the reclaimed prefixes until the next check.
    if (reclaimed > 0) await deps.inventory.refresh();
    return { reclaimed, sweep };
  }

  return {
    revokeStale,
    leaks,
    /** Both at once (tests, and `Composed.cleanup()`); the scheduler runs them as the jobs `leaks` and `cleanup`. */
    async run() {
      const { reclaimed, sweep } = await leaks();
      const revoked = await revokeStale();
      if (revoked || reclaimed) deps.log.info({ revoked, reclaimed, sweep }, 'clean-up done');
      return { revoked, reclaimed, sweep };
    },
  };
}
