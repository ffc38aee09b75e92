// Memory does not grow with the lifecycles stored, only with those in memory: store many settled
// lifecycles, hydrate every one, let the host evict them (`runtime.idle_ms`), and read RSS and heap.
// Run on its own it also prints heap per in-flight lifecycle, RSS with many in flight, RSS while
// allocating flat out, and RSS of a service started on a database of BENCH_STORED lifecycles:
//   BENCH_STORED=1000000 BENCH_IN_FLIGHT=10000 node --import tsx bench/memory.ts [in-flight|allocating|resumed|stored]
//   BENCH_FILE=/path/stored.sqlite (built by bench/build.ts, its in-flight ones still in flight) instead of building one.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { CpePort } from '../services/genieacs/port.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import { benchStartup } from './startup.ts';
import { composeBench, fmt, memory, scratchDir, type Bench } from './support.ts';

const IDLE_MS = 200;

export interface MemoryReading {
  stored: number;
  baseline: { rssMiB: number; heapMiB: number };
  hydrated: { rssMiB: number; heapMiB: number; actors: number };
  evicted: { rssMiB: number; heapMiB: number; actors: number };
}

/** Copies of a settled lifecycle under new ids, written in one transaction (hydrating is what is measured). */
function seed(b: Bench, sample: LifecycleRow, from: number, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `mem-${from + i}`);
  b.c.db.transaction(() => {
    for (const id of ids) {
      const subscriber = `mem-sub-${id}`;
      const snapshot = sample.snapshot.replaceAll(sample.id, id).replaceAll(sample.subscriber_id, subscriber);
      b.c.store.save({ ...sample, id, subscriber_id: subscriber, snapshot }, null);
    }
  })();
  return ids;
}

async function waitForEviction(b: Bench, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (b.c.host.size > 0 && Date.now() < deadline) await sleep(IDLE_MS / 2);
}

/** Hydrates then evicts `rounds[i]` more stored lifecycles per round; one reading per round. */
export async function benchMemory(rounds: number[]): Promise<{ readings: MemoryReading[]; leftAfterRejected: number; rejected: number }> {
  const b = await composeBench({ idleMs: IDLE_MS });
  try {
    const { service, host, store } = b.c;
    await service.allocate({ subscriber_id: 'mem-sample' }, 10_000);
    await service.activate({ subscriber_id: 'mem-sample', username: 'user-mem', cpe_id: 'cpe-mem' }, 10_000);
    const sample = store.live('mem-sample')!;
    await waitForEviction(b, 10 * IDLE_MS);
    const readings: MemoryReading[] = [];
    let stored = 1;
    for (const count of rounds) {
      const ids = seed(b, sample, stored, count);
      stored += count;
      const baseline = memory();
      // Settling arms the idle timer, as every operation of the service does after its event.
      for (const id of ids) {
        host.snapshot(id);
        await host.settle(id, 0);
      }
      const hydrated = { ...memory(), actors: host.size };
      await waitForEviction(b, 60_000);
      readings.push({ stored, baseline, hydrated, evicted: { ...memory(), actors: host.size } });
    }
    // An operation refused as an invalid transition hydrates the actor but never settles it.
    const refused = rounds[0] ?? 0;
    const ids = seed(b, sample, stored, refused);
    for (const id of ids) await service.reactivate({ subscriber_id: `mem-sub-${id}` }, 0).catch(() => undefined);
    await sleep(IDLE_MS * 5);
    return { readings, leftAfterRejected: host.size, rejected: refused };
  } finally {
    await b.close();
  }
}

/**
 * `count` lifecycles allocated and their activation's CPE step left running: heap and RSS per in-flight
 * lifecycle. With `parkMs` short they are parked (no actor, the step's call kept: runtime/flights.ts);
 * with it past the run, each keeps its two actors, as before parking existed.
 */
export async function benchInFlight(
  count: number,
  parkMs: number,
): Promise<{ inFlight: number; actors: number; parked: number; heapPerLifecycleB: number; rssMiB: number; heapMiB: number }> {
  const never: CpePort = { configurePd: () => new Promise(() => undefined), removeIpv6: () => new Promise(() => undefined) };
  const b = await composeBench({ ports: { cpe: never }, parkMs });
  try {
    const { service, host } = b.c;
    // Warm-up: the code paths compiled (and their feedback kept) before the first reading, not in it.
    for (let i = 0; i < 200; i++) {
      await service.allocate({ subscriber_id: `warm-${i}` }, 10_000);
      await service.activate({ subscriber_id: `warm-${i}`, username: `u-warm-${i}`, cpe_id: `cpe-warm-${i}` }, 0);
    }
    // Parked within park_ms and a sweep (a quarter of it) after their last move; a long park_ms parks nothing here.
    const parkWait = parkMs <= 10_000 ? parkMs * 3 : 0;
    const warm = Date.now() + parkWait;
    while (host.parked < 200 && Date.now() < warm) await sleep(Math.min(parkMs, 100));
    const before = memory();
    for (let i = 0; i < count; i += 500) {
      await Promise.all(
        Array.from({ length: Math.min(500, count - i) }, async (_, j) => {
          const s = `flight-${i + j}`;
          await service.allocate({ subscriber_id: s }, 10_000);
          await service.activate({ subscriber_id: s, username: `u-${s}`, cpe_id: `cpe-${s}` }, 0);
        }),
      );
    }
    await host.afterCommit();
    const until = Date.now() + parkWait;
    while (host.parked < count + 200 && Date.now() < until) await sleep(Math.min(parkMs, 100));
    const after = memory();
    return { inFlight: count, actors: host.size, parked: host.parked, heapPerLifecycleB: ((after.heapMiB - before.heapMiB) * 2 ** 20) / count, rssMiB: after.rssMiB, heapMiB: after.heapMiB };
  } finally {
    await b.close();
  }
}

/** A start on a built database whose in-flight lifecycles' CPE steps never answer: heap per resumed in-flight lifecycle. */
export async function benchResumedInFlight(file: string, inFlight: number): Promise<{ actors: number; parked: number; heapPerLifecycleB: number; rssMiB: number }> {
  const never: CpePort = { configurePd: () => new Promise(() => undefined), removeIpv6: () => new Promise(() => undefined) };
  const b = await composeBench({ database: file, ports: { cpe: never } });
  try {
    const before = memory();
    await b.c.start();
    const { host } = b.c;
    const until = Date.now() + 60_000;
    while (host.size + host.parked < inFlight && Date.now() < until) await sleep(50);
    // Then parked (runtime.park_ms after each one's resume): what they keep while their steps wait.
    while (host.parked < inFlight && Date.now() < until) await sleep(50);
    await host.afterCommit();
    const after = memory();
    const resumed = host.size + host.parked;
    return { actors: host.size, parked: host.parked, heapPerLifecycleB: ((after.heapMiB - before.heapMiB) * 2 ** 20) / Math.max(1, resumed), rssMiB: after.rssMiB };
  } finally {
    await b.close();
  }
}

/** Allocates flat out for `ms` (`concurrency` at a time, new subscribers): the highest RSS seen. */
export async function benchAllocating(
  ms: number,
  concurrency = 200,
  opts: { embeddedIpam?: boolean; maxLive?: number } = {},
): Promise<{ lifecycles: number; peakRssMiB: number; actors: number }> {
  const b = await composeBench(opts);
  try {
    const { service, host } = b.c;
    let peak = 0;
    let n = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss / 2 ** 20)), 100);
    const until = Date.now() + ms;
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let k = 0; Date.now() < until; k++) {
          const s = `flat-${w}-${k}`;
          await service.allocate({ subscriber_id: s }, 10_000);
          n++;
        }
      }),
    );
    clearInterval(sampler);
    return { lifecycles: n, peakRssMiB: Math.max(peak, process.memoryUsage().rss / 2 ** 20), actors: host.size };
  } finally {
    await b.close();
  }
}

// Each reading in a process of its own: RSS seldom shrinks, so one reading would carry the last one's.
if (import.meta.url === `file://${process.argv[1]}`) {
  const stored = Number(process.env.BENCH_STORED ?? 1_000_000);
  const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 10_000);
  const mib = (x: number) => `${x.toFixed(0)} MiB`;
  const part = process.argv[2];
  const again = (name: string, env: Record<string, string> = {}) =>
    spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), name], { stdio: 'inherit', env: { ...process.env, ...env } });
  if (part === 'in-flight') {
    // runtime.park_ms 100 (parked), then past the run (every one an actor: what parking saves).
    for (const parkMs of [100, 600_000]) {
      const f = await benchInFlight(inFlight, parkMs);
      console.log(
        `${fmt(f.inFlight)} lifecycles in flight, park_ms ${fmt(parkMs)} (${fmt(f.actors)} actors, ${fmt(f.parked)} parked): ${fmt(Math.round(f.heapPerLifecycleB))} bytes of heap each` +
          `${f.heapPerLifecycleB > 5120 ? '  (goal ≤ 5 KB)' : ''}; rss ${mib(f.rssMiB)}, heap ${mib(f.heapMiB)}`,
      );
    }
  } else if (part === 'allocating') {
    // BENCH_IPAM=embedded: the default configuration's IPAM (allocations made at once, no actor); else the instant fake (an actor each).
    const embeddedIpam = process.env.BENCH_IPAM === 'embedded';
    const maxLive = process.env.BENCH_MAX_LIVE ? Number(process.env.BENCH_MAX_LIVE) : undefined;
    const a = await benchAllocating(Number(process.env.BENCH_ALLOCATE_MS ?? 20_000), 200, { embeddedIpam, ...(maxLive ? { maxLive } : {}) });
    const how = `${embeddedIpam ? 'embedded IPAM' : 'instant fake IPAM'}, max_live_actors ${maxLive ?? 'default'}`;
    console.log(`allocating flat out (${how}): ${fmt(a.lifecycles)} allocations, peak rss ${mib(a.peakRssMiB)}${a.peakRssMiB >= 512 ? '  (goal < 512 MB)' : ''}, ${fmt(a.actors)} actors in memory at the end`);
  } else if (part === 'resumed') {
    const r = await benchResumedInFlight(process.env.BENCH_FILE!, inFlight);
    console.log(`${fmt(r.actors + r.parked)} lifecycles resumed in flight after a restart (${fmt(r.parked)} parked): ${fmt(Math.round(r.heapPerLifecycleB))} bytes of heap each${r.heapPerLifecycleB > 5120 ? '  (goal ≤ 5 KB)' : ''}; rss ${mib(r.rssMiB)}`);
  } else if (part === 'stored') {
    const s = await benchStartup(process.env.BENCH_FILE!, stored, inFlight);
    console.log(
      `started on ${fmt(s.stored)} stored, ${fmt(s.inFlight)} in flight: rss at ready ${mib(s.rssAtReadyMiB)}, after resuming them ${mib(s.rssResumedMiB)}` +
        `${s.rssResumedMiB >= 512 ? '  (goal < 512 MB)' : ''} (ready in ${(s.readyMs / 1000).toFixed(2)} s)`,
    );
  } else {
    again('in-flight');
    again('allocating');
    const scratch = process.env.BENCH_FILE ? null : scratchDir();
    const file = process.env.BENCH_FILE ?? join(scratch!.dir, 'stored.sqlite');
    if (scratch) spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./build.ts', import.meta.url)), file], {
        stdio: 'inherit',
        env: { ...process.env, BENCH_STORED: String(stored), BENCH_IN_FLIGHT: String(inFlight) },
      });
    // While its lifecycles are still in flight; then the start-up resumes them to the end.
    again('resumed', { BENCH_FILE: file });
    again('stored', { BENCH_FILE: file });
    scratch?.remove();
  }
}
