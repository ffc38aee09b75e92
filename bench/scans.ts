// Scans at scale: a database with hundreds of thousands of prefixes held, built fast through the
// product's own code (the embedded IPAM's allocate and the store's upsert, in bulk transactions),
// then what used to walk it all: the leak check, the clean-up, the API metrics summary, a /metrics
// scrape, sharedPrefixes(). Each is timed, and the event loop's worst stall during it is measured
// with perf_hooks.monitorEventLoopDelay (a /healthz waits that long).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import pino from 'pino';
import { createCleanup } from '../runtime/cleanup.ts';
import { createInventory } from '../runtime/inventory.ts';
import { createMetrics } from '../runtime/metrics.ts';
import type { LifecycleService } from '../runtime/lifecycle-service.ts';
import { createEmbeddedIpam } from '../services/ipam/embedded.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import { createIpamRouter } from '../services/ipam/router.ts';
import { formatPrefix, nthSubnet } from '../services/ipv6.ts';
import { createHeldScratch } from '../store/held-scratch.ts';
import { openDatabase, type Db } from '../store/db.ts';
import { UPSERT_LIFECYCLE, type LifecycleRow } from '../store/lifecycles.ts';
import { sqliteStorePort } from '../store/sqlite-port.ts';
import { decodeSnapshot, encodeSnapshot } from '../store/snapshot-codec.ts';
import { compose } from '../compose.ts';
import { parseConfig } from '../config.ts';
import type { CpeResult } from '../services/genieacs/port.ts';
import { BENCH_POOL, instantPorts, scratchDir } from './support.ts';

export const SCAN_POOL = { name: BENCH_POOL.name, prefix: BENCH_POOL.prefix, prefixLength: BENCH_POOL.prefix_length };

/** The stored row of the `i`-th held lifecycle (active, its prefix the i-th block of the pool). */
export function heldRow(i: number, at: string): LifecycleRow {
  const prefix = formatPrefix(nthSubnet(SCAN_POOL.prefix, SCAN_POOL.prefixLength, i));
  return {
    id: `lc-${String(i).padStart(8, '0')}`,
    subscriber_id: `sub-${i}`,
    state: 'active',
    busy: 0,
    pool: SCAN_POOL.name,
    prefix,
    prefix_length: SCAN_POOL.prefixLength,
    netbox_prefix_id: null,
    username: `user-${i}`,
    cpe_id: `cpe-${i}`,
    allocated_at: at,
    activated_at: at,
    suspended_at: null,
    revoked_at: null,
    created_at: at,
    updated_at: at,
    next_pending_at: null,
    snapshot: JSON.stringify({ value: 'active', context: { subscriberId: `sub-${i}`, lifecycleId: `lc-${String(i).padStart(8, '0')}`, pending: [], unconfirmed: [] } }),
  };
}

/**
 * Fills `db` with `n` active lifecycles, each holding its block of SCAN_POOL in the embedded IPAM
 * under its own mark: the IPAM's allocate (first fit in a fresh pool hands out the blocks in order,
 * so the i-th allocation is the i-th block) and the store's upsert, 20k to a transaction.
 */
export function fillHeld(db: Db, n: number, opts: { from?: number } = {}): IpamPort {
  const ipam = createEmbeddedIpam(db, [SCAN_POOL]);
  const upsert = db.prepare(UPSERT_LIFECYCLE);
  const day = Date.now() - 3 * 86_400_000;
  const start = opts.from ?? 0;
  const CHUNK = 20_000;
  for (let from = start; from < start + n; from += CHUNK) {
    db.transaction(() => {
      for (let i = from; i < Math.min(start + n, from + CHUNK); i++) {
        const row = heldRow(i, new Date(day + i * 10).toISOString());
        // allocate() is synchronous up to its answer: it runs inside this transaction.
        void ipam.allocate({ key: `k-${i}`, lifecycleId: row.id, subscriberId: row.subscriber_id, pool: SCAN_POOL.name, prefixLength: SCAN_POOL.prefixLength });
        upsert.run(row);
      }
    })();
  }
  return ipam;
}

export interface Timed {
  ms: number;
  /** The longest the event loop was blocked meanwhile, ms (monitorEventLoopDelay at 1 ms resolution). */
  maxStallMs: number;
  /**
   * The most CPU this process used between two turns of a 1 ms timer, ms: the stall without the
   * time other processes had the CPU (on a loaded machine the wall-clock stall includes theirs).
   */
  maxSliceCpuMs: number;
}

/** Runs `fn` with a monitor on the event loop: how long it took and the worst stall. */
export async function timed(fn: () => Promise<unknown>): Promise<Timed> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  let last = cpu();
  let maxSliceCpuMs = 0;
  let on = true;
  const tick = () => {
    const now = cpu();
    maxSliceCpuMs = Math.max(maxSliceCpuMs, now - last);
    last = now;
    if (on) setTimeout(tick, 1);
  };
  setTimeout(tick, 1);
  // Both monitors must be running before the work starts: a stall from the first instant would be missed.
  await new Promise((r) => setTimeout(r, 5));
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  // The histogram takes its sample when its timer fires: after a stall, not during it.
  await new Promise((r) => setTimeout(r, 5));
  on = false;
  h.disable();
  return { ms, maxStallMs: h.max / 1e6, maxSliceCpuMs };
}

export interface ScanFigures {
  held: number;
  buildMs: number;
  leakCheck: Timed;
  cleanup: Timed;
  summary: Timed;
  scrape: Timed;
  shared: Timed;
  leaks: number;
}

export async function benchScans(held: number): Promise<ScanFigures> {
  const scratch = scratchDir();
  // BENCH_SCANS_FILE: a file this bench built before (kept), measured again without the build.
  const kept = process.env.BENCH_SCANS_FILE;
  const fresh = !kept || !existsSync(kept);
  const db = openDatabase(kept ?? join(scratch.dir, 'scans.sqlite'));
  try {
    const t = performance.now();
    const embedded = fresh ? fillHeld(db, held) : createEmbeddedIpam(db, [SCAN_POOL]);
    const buildMs = performance.now() - t;
    if (!fresh) held = (db.prepare('SELECT count(*) AS n FROM ipam_allocations').get() as { n: number }).n;
    // The modules as compose.ts wires them: over the store port.
    const { lifecycles: store, counts } = sqliteStorePort(db);
    const ipam = createIpamRouter(new Map([[SCAN_POOL.name, embedded]]));
    const inventory = createInventory({ store, ipam, seen: createHeldScratch(db) });
    const metrics = createMetrics({ store, counts, ipam, leaks: () => inventory.leaks(Number.POSITIVE_INFINITY) });
    const log = pino({ level: 'silent' });
    const cleanup = createCleanup({ store, service: {} as LifecycleService, ipam, inventory, log, staleAllocatedAfterS: 0, reclaimLeaks: true });
    let leaks = -1;
    const leakCheck = await timed(async () => {
      leaks = (await inventory.discrepancies()).filter((d) => d.kind === 'leaked').length;
    });
    const cleanupT = await timed(() => cleanup.run());
    await inventory.summary();
    const summary = await timed(() => inventory.summary());
    await metrics.registry.metrics();
    const scrape = await timed(() => metrics.registry.metrics());
    const shared = await timed(() => store.sharedPrefixes());
    return { held, buildMs, leakCheck, cleanup: cleanupT, summary, scrape, shared, leaks };
  } finally {
    db.close();
    scratch.remove();
  }
}

export interface PendingFigures {
  pending: number;
  limit: number;
  /** One pass of the pending worker over every due step, ms, against pending_interval_ms. */
  passMs: number;
  intervalMs: number;
  maxInFlight: number;
  completed: number;
  maxStallMs: number;
  maxSliceCpuMs: number;
}

/**
 * `n` lifecycles with a CPE step pending (their CPE was offline), all due, worked through by one pass
 * of the pending worker against an ACS that answers each command in `acsMs`, at most `limit` at a time.
 */
export async function benchPending(n: number, limit = 32, acsMs = 5): Promise<PendingFigures> {
  const dir = scratchDir();
  const config = parseConfig({
    database: join(dir.dir, 'pending.sqlite'),
    pools: [BENCH_POOL],
    runtime: { idle_ms: 100 },
    limits: { genieacs: { concurrency: limit } },
    log: { level: 'silent' },
  });
  const ports = instantPorts();
  let online = false;
  const acs = { inFlight: 0, maxInFlight: 0, completed: 0 };
  const answer = async (): Promise<CpeResult> => {
    if (!online) return { status: 'queued', taskId: null };
    acs.inFlight++;
    acs.maxInFlight = Math.max(acs.maxInFlight, acs.inFlight);
    await new Promise((r) => setTimeout(r, acsMs));
    acs.inFlight--;
    acs.completed++;
    return { status: 'done' };
  };
  const c = await compose(config, { log: pino({ level: 'silent' }), overrides: { ...ports, cpe: { configurePd: answer, removeIpv6: answer } } });
  try {
    await c.start();
    // One lifecycle made through the service, then copied under n ids with its step due now.
    await c.service.allocate({ subscriber_id: 'template' }, 5000);
    await c.service.activate({ subscriber_id: 'template', username: 'u', cpe_id: 'cpe' }, 5000);
    const template = c.store.live('template')!;
    c.host.stopAll();
    const due = new Date(0).toISOString();
    const whole = JSON.stringify(decodeSnapshot(template));
    c.db.transaction(() => {
      for (let i = 0; i < n; i++) {
        const id = `pend-${String(i).padStart(8, '0')}`;
        // The stored snapshot is compact (store/snapshot-codec.ts): copied as the whole persisted snapshot, then encoded against the copy's row.
        const snapshot = JSON.parse(whole.split(template.id).join(id).split('"template"').join(`"sub-${id}"`));
        for (const p of snapshot.context.pending) p.next_attempt_at = due;
        const row = { ...template, id, subscriber_id: `sub-${id}`, prefix: null, next_pending_at: due };
        c.store.save({ ...row, snapshot: encodeSnapshot(snapshot, row) }, null);
      }
    })();
    online = true;
    const t = await timed(() => c.tickPending());
    return { pending: n, limit, passMs: t.ms, intervalMs: config.runtime.pending_interval_ms, maxInFlight: acs.maxInFlight, completed: acs.completed, maxStallMs: t.maxStallMs, maxSliceCpuMs: t.maxSliceCpuMs };
  } finally {
    await c.stop();
    dir.remove();
  }
}
