import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { allOwned, givingBack } from '../machines/context.ts';
import { markedUnder } from '../services/ipam/marked.ts';
import type { IpamPort, MarkedPrefix } from '../services/ipam/port.ts';
import { markedPagesOf } from '../services/ipam/router.ts';
import type { LeakCheck } from '../store/counts.ts';
import type { HeldScratch } from '../store/held-scratch.ts';
import type { LifecycleHolder, ListCursor } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { PoolFigures } from './pool-figures.ts';
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

/** Lifecycles read per page of the leak check's walk (a turn of the event loop each: at 10M, reads miss the page cache). */
const PAGE = 250;
/**
 * Holders asked for at once: on SQLite each read is done as it is asked (no I/O in between), on
 * PostgreSQL a few go out together rather than one round trip each, and not a page's worth, which
 * would hold every connection of the pool while requests wait.
 */
const HOLDERS_AT_ONCE = 16;
/**
 * Milliseconds of reads between two turns of the event loop. On SQLite each read is synchronous,
 * and at 10M lifecycles many miss the page cache: a page of 1,000 held the loop ~100 ms, and a
 * fixed 256 reads a turn held it 53-61 ms at 1M on a slower machine. A budget of time holds on any.
 */
const SLICE_MS = 10;

/** A long walk's pause: a later turn once `sliceMs` have passed since the last one, else nothing to wait for. */
function slicer(sliceMs = SLICE_MS): () => Promise<void> | undefined {
  let since = performance.now();
  return () => {
    if (performance.now() - since < sliceMs) return undefined;
    return nextTurn().then(() => {
      since = performance.now();
    });
  };
}

/** Pool figures and leak detection: IPAM's holdings checked against the lifecycles. */
export type Inventory = ReturnType<typeof createInventory>;

/** Where a check keeps what it saw in IPAM (store/held-scratch.ts); a Set in memory without one. */
export type SeenHoldings = Pick<HeldScratch, 'clear' | 'add' | 'has'>;

function inMemory(): SeenHoldings {
  const seen = new Set<string>();
  return {
    clear: async () => seen.clear(),
    add: (items) => items.forEach((i) => seen.add(`${i.pool} ${i.prefix}`)),
    has: (pool, prefix) => seen.has(`${pool} ${prefix}`),
  };
}

export function createInventory(deps: {
  store: Pick<LifecyclePort, 'get' | 'holder' | 'sharedPrefixes' | 'heldPage' | 'countByState'>;
  ipam: IpamPort;
  /** The pools' figures shared with the Prometheus gauges (runtime/pool-figures.ts); absent, the summary reads IPAM each call. */
  figures?: Pick<PoolFigures, 'summary'>;
  seen?: SeenHoldings;
  /** Awaited before the check answers: the leak counter has stored its records by then. */
  onChecked?: (found: Discrepancy[]) => unknown;
  /** Where the last check's figure is kept (store/counts.ts), so that a new process reports it without a walk. */
  lastCheck?: { read(): Promise<LeakCheck | null>; save(check: LeakCheck): Promise<unknown> };
}) {
  const seen = deps.seen ?? inMemory();
  /**
   * Whether the lifecycle may hold the marked prefix. The row's own prefix column answers most cases;
   * the snapshot is read only for the rest (a half-done update, a lost allocation answer). A
   * lifecycle with a step in flight may be about to record what IPAM just gave it, so it is never a
   * leak; nor is a prefix under one of its unconfirmed attempts' keys, which a retry would find and
   * its revocation gives back. Anything else under its mark (a POST that committed after its client
   * gave up, under a key since confirmed with another prefix) is unambiguously no one's.
   */
  const mayHold = (row: LifecycleHolder | undefined, m: MarkedPrefix): boolean | 'snapshot' => {
    if (!row || row.state === 'revoked') return false;
    if (row.busy === 1 || row.prefix === m.prefix) return true;
    return 'snapshot';
  };
  /** Only now the snapshot: the rare case of a prefix the row's column does not show. */
  const snapshotHolds = async (row: LifecycleHolder, m: MarkedPrefix): Promise<boolean> => {
    const full = await deps.store.get(row.id);
    if (!full) return false;
    const ctx = readContext(full);
    // A rolled-back update's block a pending step gives back once IPAM answers is held until then
    // too (allOwned and givingBack include it): no leak.
    const attempts = [...ctx.unconfirmed, ...givingBack(ctx).flatMap((r) => r.unconfirmed)];
    if (attempts.some((a) => markedUnder(m, a.key))) return true;
    return allOwned(ctx).some((p) => p.prefix === m.prefix);
  };

  /**
   * Walks IPAM's holdings and the held lifecycles a page at a time, giving the event loop back
   * between pages: at a million holdings the walk takes seconds, and in one piece it stalled
   * every request (and /healthz) that long.
   */
  let running: Promise<Discrepancy[]> | null = null;
  /** One check at a time: a second caller shares the one running (they would find the same, at twice the cost). */
  function discrepancies(): Promise<Discrepancy[]> {
    running ??= walk().finally(() => {
      running = null;
    });
    return running;
  }

  async function holdersOf(page: readonly MarkedPrefix[], pause: () => Promise<void> | undefined): Promise<(LifecycleHolder | undefined)[]> {
    const out: (LifecycleHolder | undefined)[] = [];
    for (let i = 0; i < page.length; i += HOLDERS_AT_ONCE) {
      await pause();
      out.push(...(await Promise.all(page.slice(i, i + HOLDERS_AT_ONCE).map((a) => deps.store.holder(a.lifecycleId)))));
    }
    return out;
  }

  /**
   * A walk reads IPAM and the lifecycles at different moments, page by page, while requests go on:
   * a lifecycle allocated after its pool's page was read shows a prefix IPAM "does not hold", and
   * one revoked after it a prefix "no live lifecycle holds". What a walk finds is therefore only
   * reported if a second walk finds it too: a race of one walk is gone by the next, a real
   * discrepancy is in both. A check that finds nothing (the usual case) walks once.
   */
  async function walk(): Promise<Discrepancy[]> {
    const first = await walkOnce();
    const found = first.length === 0 ? first : await confirmed(first);
    // Every check feeds the leak counter (runtime/leak-counter.ts), whoever asked for it.
    await deps.onChecked?.(found);
    const check = { leaked: found.filter((x) => x.kind === 'leaked').length, at: Date.now() };
    cached = { at: check.at, leaks: Promise.resolve(check.leaked) };
    // Not kept (the store refused it now): this process still has it; the next check keeps it.
    await deps.lastCheck?.save(check).catch(() => undefined);
    return found;
  }

  async function confirmed(first: Discrepancy[]): Promise<Discrepancy[]> {
    const id = (d: Discrepancy) => `${d.kind} ${d.pool} ${d.prefix} ${d.lifecycle_id}`;
    const again = new Set((await walkOnce()).map(id));
    return first.filter((d) => again.has(id(d)));
  }

  async function walkOnce(): Promise<Discrepancy[]> {
    const found: Discrepancy[] = [];
    await seen.clear();
    const pause = slicer();
    for await (const page of markedPagesOf(deps.ipam)) {
      seen.add(page);
      const holders = await holdersOf(page, pause);
      for (const [i, a] of page.entries()) {
        // Decided on the row's columns without an await; the snapshot only for the rest.
        let may = mayHold(holders[i], a);
        if (may === 'snapshot') may = await snapshotHolds(holders[i]!, a);
        if (!may) found.push({ kind: 'leaked', pool: a.pool, prefix: a.prefix, lifecycle_id: a.lifecycleId, key: a.key });
      }
      await nextTurn();
    }
    for (const { prefix, lifecycle_ids } of await deps.store.sharedPrefixes()) {
      for (const id of lifecycle_ids) found.push({ kind: 'shared', pool: (await deps.store.holder(id))?.pool ?? '', prefix, lifecycle_id: id });
    }
    for (const state of ['allocated', 'active', 'suspended'] as const) {
      let after: ListCursor | undefined;
      for (;;) {
        const page = await deps.store.heldPage(state, PAGE, after);
        for (const row of page) {
          if (row.prefix && row.busy === 0 && !seen.has(row.pool, row.prefix)) {
            found.push({ kind: 'lost', pool: row.pool, prefix: row.prefix, lifecycle_id: row.id });
          }
        }
        await nextTurn();
        if (page.length < PAGE) break;
        after = page.at(-1);
      }
    }
    await seen.clear();
    return found;
  }

  // Scrapes and the API read the last count, so a scrape never walks the whole IPAM; the scheduled
  // check and the clean-up refresh it. A new process starts from the figure the last check stored:
  // only a database that never had a check makes its first reader walk (at a million holdings the
  // walk takes seconds, past a scrape's timeout).
  let cached: { at: number; leaks: Promise<number> } | null = null;
  const refresh = (): Promise<number> => {
    const leaks = discrepancies().then((d) => d.filter((x) => x.kind === 'leaked').length);
    cached = { at: Date.now(), leaks };
    leaks.catch(() => (cached = null));
    return leaks;
  };
  // Read by every reader, not once: another instance (the leader's scheduled check) stores newer
  // figures than the one this process read first. Two rows, no walk.
  const fromStore = async () => {
    const last = await deps.lastCheck?.read();
    if (last && (!cached || last.at > cached.at)) cached = { at: last.at, leaks: Promise.resolve(last.leaked) };
  };

  /** Leaked prefixes as of the last check (at most `maxAgeMs` old). */
  const leaks = async (maxAgeMs = 60_000): Promise<number> => {
    // A store that cannot be read now: this process's own figure, and the next reader asks again.
    await fromStore().catch(() => undefined);
    return cached && Date.now() - cached.at <= maxAgeMs ? cached.leaks : refresh();
  };

  return {
    discrepancies,
    refresh,
    leaks,
    /** The scheduled leak check: logs every discrepancy for an operator to act on. */
    async check(log: Logger): Promise<Discrepancy[]> {
      const found = await discrepancies();
      const what = { leaked: 'IPAM holds a prefix no live lifecycle holds', lost: 'a live lifecycle holds a prefix IPAM does not', shared: 'two live lifecycles show the same prefix' };
      for (const d of found) (d.kind === 'shared' ? log.error(d, what.shared) : log.warn(d, what[d.kind]));
      return found;
    },
    async summary() {
      const util = await (deps.figures ? deps.figures.summary() : deps.ipam.utilization());
      const counts = await deps.store.countByState();
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
        // The last check's figure, however old (the scheduled check refreshes it): the summary counts, it never walks.
        leaks: await leaks(Number.POSITIVE_INFINITY),
      };
    },
  };
}
