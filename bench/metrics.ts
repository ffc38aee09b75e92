// GET /metrics with a million stored lifecycles: how long a scrape takes, and what the metrics add
// to each transition (the triggers of migration 006 in the write's transaction, the hooks in JS).
// Lifecycles are written in bulk through the store's own upsert (no HTTP, no actors), their prefixes
// through the embedded IPAM, so the pool gauges read a pool with as many blocks allocated.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { TransitionRecord } from '../runtime/actor-host.ts';
import { createMetrics } from '../runtime/metrics.ts';
import { createEmbeddedIpam } from '../services/ipam/embedded.ts';
import { createMetricCounts } from '../store/counts.ts';
import { openDatabase } from '../store/db.ts';
import { createLifecycleStore, UPSERT_LIFECYCLE, type AuditEntry, type LifecycleRow, type SaveItem } from '../store/lifecycles.ts';
import { asyncOf } from '../store/port.ts';
import { BENCH_POOL, scratchDir } from './support.ts';

export interface MetricsFigures {
  lifecycles: number;
  buildMs: number;
  /** Median and worst of the timed scrapes, milliseconds. */
  scrapeMedianMs: number;
  scrapeMaxMs: number;
  /** The GROUP BY the state gauge ran per scrape before the kept counts, for comparison. */
  groupByMs: number;
  /** Per persisted transition, microseconds: the write with and without the counting triggers (medians), and the JS hooks. */
  writeUs: number;
  writeWithoutTriggersUs: number;
  triggerUs: number;
  hooksUs: number;
}

// The share of each state among the stored lifecycles: mostly active, a long tail of revoked.
const MIX: [string, number][] = [['active', 0.7], ['revoked', 0.2], ['suspended', 0.05], ['allocated', 0.03], ['failed', 0.01], ['revoking', 0.005], ['pending', 0.005]];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function benchMetrics(lifecycles: number): Promise<MetricsFigures> {
  const scratch = scratchDir();
  const db = openDatabase(join(scratch.dir, 'metrics.sqlite'));
  try {
    const store = createLifecycleStore(db);
    const pool = { name: BENCH_POOL.name, prefix: BENCH_POOL.prefix, prefixLength: BENCH_POOL.prefix_length };
    const ipam = createEmbeddedIpam(db, [pool]);
    const day = Date.now() - 3 * 86_400_000;
    const states = MIX.flatMap(([state, share]) => Array.from({ length: Math.round(share * 1000) }, () => state));
    const row = (i: number, state: string, prefix: string | null): LifecycleRow => {
      const at = new Date(day + i * 100).toISOString();
      return {
        id: `lc-${String(i).padStart(8, '0')}`,
        subscriber_id: `sub-${i}`,
        state,
        busy: 0,
        pool: pool.name,
        prefix,
        prefix_length: pool.prefixLength,
        netbox_prefix_id: null,
        username: `user-${i}`,
        cpe_id: `cpe-${i}`,
        allocated_at: state === 'pending' ? null : at,
        activated_at: state === 'active' ? at : null,
        suspended_at: state === 'suspended' ? at : null,
        revoked_at: state === 'revoked' ? at : null,
        created_at: at,
        updated_at: at,
        next_pending_at: null,
        snapshot: JSON.stringify({ value: state, context: { subscriberId: `sub-${i}`, prefix } }),
      };
    };

    // The store's own upsert (the statement save() runs, so the counting triggers fire as in
    // service), without save()'s per-row transaction, which would be a savepoint per row here.
    const upsert = db.prepare(UPSERT_LIFECYCLE);
    const built = performance.now();
    const CHUNK = 20_000;
    for (let from = 0; from < lifecycles; from += CHUNK) {
      // One transaction per chunk: the IPAM's and the store's own transactions nest as savepoints.
      db.transaction(() => {
        for (let i = from; i < Math.min(lifecycles, from + CHUNK); i++) {
          const state = states[i % states.length]!;
          let prefix: string | null = null;
          if (state !== 'pending' && state !== 'revoked') {
            // allocate() is synchronous up to its answer: it runs inside this transaction.
            void ipam.allocate({ key: `k-${i}`, lifecycleId: `lc-${i}`, subscriberId: `sub-${i}`, pool: pool.name, prefixLength: pool.prefixLength });
            prefix = `ipam-${i}`;
          }
          upsert.run(row(i, state, prefix));
        }
      })();
    }
    const buildMs = performance.now() - built;

    const counts = createMetricCounts(db);
    const metrics = createMetrics({ store: asyncOf(store), counts: asyncOf(counts), ipam, leaks: async () => 0 });
    await metrics.registry.metrics();
    const scrapes: number[] = [];
    for (let i = 0; i < 30; i++) {
      // Each scrape reads the IPAM afresh, as after a transition.
      metrics.onTransition(record(row(0, 'active', 'x'), row(0, 'allocated', 'x')));
      const t = performance.now();
      await metrics.registry.metrics();
      scrapes.push(performance.now() - t);
    }
    const g = performance.now();
    db.prepare('SELECT state, count(*) AS n FROM lifecycles GROUP BY state').all();
    const groupByMs = performance.now() - g;

    // Transitions of stored lifecycles (active ↔ suspended), saved 50 to a transaction as the group
    // commit does; once with the counting triggers, once without them.
    const transitions = 20_000;
    const activeIds = Array.from({ length: transitions }, (_, k) => k).filter((i) => states[i % states.length] === 'active');
    const writes = (round: number): SaveItem[][] => {
      const batches: SaveItem[][] = [];
      let batch: SaveItem[] = [];
      for (let k = 0; k < transitions; k++) {
        const i = activeIds[k % activeIds.length]!;
        const state = (k + round) % 2 === 0 ? 'suspended' : 'active';
        const r = row(i, state, `ipam-${i}`);
        batch.push({ row: r, audit: audit(r) });
        if (batch.length === 50) {
          batches.push(batch);
          batch = [];
        }
      }
      if (batch.length > 0) batches.push(batch);
      return batches;
    };
    const timeWrites = (batches: SaveItem[][]) => {
      const t = performance.now();
      for (const b of batches) store.saveBatch(b);
      return performance.now() - t;
    };
    const triggers = db.prepare<[], { name: string; sql: string }>("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'lifecycle_counts_%'").all();
    // Alternated, and the median difference taken: the machine's other load shifts both alike.
    const withTriggers: number[] = [];
    const withoutTriggers: number[] = [];
    const us = (ms: number) => (ms * 1000) / transitions;
    for (let round = 0; round < 10; round += 2) {
      withTriggers.push(us(timeWrites(writes(round))));
      for (const t of triggers) db.exec(`DROP TRIGGER ${t.name}`);
      withoutTriggers.push(us(timeWrites(writes(round + 1))));
      for (const t of triggers) db.exec(t.sql);
    }
    const writeUs = median(withTriggers);
    const writeWithoutTriggersUs = median(withoutTriggers);
    // Below the noise of the machine's other load it can come out negative: shown as measured.
    const triggerUs = writeUs - writeWithoutTriggersUs;

    // The JS hooks of one lifecycle's journey (every kind of transition the hooks treat apart).
    const journey = (i: number): TransitionRecord[] => {
      const pending = row(i, 'pending', null);
      const allocated = row(i, 'allocated', 'p');
      const active = row(i, 'active', 'p');
      const revoking = row(i, 'revoking', 'p');
      const revoked = row(i, 'revoked', 'p');
      return [record(pending, null), record(allocated, pending), record(active, allocated), record(active, active), record(revoking, active), record(revoked, revoking)];
    };
    const records = Array.from({ length: 2000 }, (_, i) => journey(i)).flat();
    for (const r of records.slice(0, 600)) metrics.onTransition(r);
    const h = performance.now();
    for (let round = 0; round < 20; round++) {
      for (const r of records) {
        metrics.onTransition(r);
        metrics.onStep('embedded_allocate', 'ok', 0.002);
      }
    }
    const hooksUs = ((performance.now() - h) * 1000) / (records.length * 20);

    return { lifecycles, buildMs, scrapeMedianMs: median(scrapes), scrapeMaxMs: Math.max(...scrapes), groupByMs, writeUs, writeWithoutTriggersUs, triggerUs, hooksUs };
  } finally {
    db.close();
    scratch.remove();
  }
}

function audit(row: LifecycleRow): AuditEntry {
  return { lifecycle_id: row.id, subscriber_id: row.subscriber_id, at: row.updated_at, type: 'SUSPEND', from_state: null, to_state: row.state, detail: null };
}

function record(row: LifecycleRow, previous: LifecycleRow | null): TransitionRecord {
  return { row, previous, audit: { ...audit(row), from_state: previous?.state ?? null } };
}
