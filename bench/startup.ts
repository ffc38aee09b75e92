// Start → ready with many lifecycles stored and some in flight: the real composition (store, actor
// host, service) opened on a database bench/build.ts built, with ports that answer at once.
//   BENCH_STORED=1000000 BENCH_IN_FLIGHT=10000 node --import tsx bench/startup.ts
//   BENCH_FILE=/path/stored.sqlite node --import tsx bench/startup.ts   (a built file; its in-flight ones are resumed, so consumed)
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { buildStored } from './build.ts';
import { composeBench, fmt, memory } from './support.ts';

export interface StartupFigures {
  stored: number;
  inFlight: number;
  /** compose() and start() until ready() holds. */
  readyMs: number;
  /** From ready until no lifecycle is busy any more (all resumed and finished). */
  resumedMs: number;
  /** The longest the event loop was held while they resumed. */
  maxStallMs: number;
  rssAtReadyMiB: number;
  rssResumedMiB: number;
  heapResumedMiB: number;
}

export async function benchStartup(file: string, stored: number, inFlight: number): Promise<StartupFigures> {
  const t0 = performance.now();
  const b = await composeBench({ database: file, idleMs: 60_000 });
  try {
    await b.c.start();
    if (!b.c.ready()) throw new Error(`not ready: ${b.c.notReady()}`);
    const readyMs = performance.now() - t0;
    const rssAtReady = process.memoryUsage().rss / 2 ** 20;
    const stalls = monitorEventLoopDelay({ resolution: 5 });
    stalls.enable();
    const t1 = performance.now();
    while (b.c.store.busy().length > 0 && performance.now() - t1 < 120_000) await new Promise((r) => setTimeout(r, 20));
    const resumedMs = performance.now() - t1;
    stalls.disable();
    const m = memory();
    return { stored, inFlight, readyMs, resumedMs, maxStallMs: stalls.max / 1e6, rssAtReadyMiB: rssAtReady, rssResumedMiB: m.rssMiB, heapResumedMiB: m.heapMiB };
  } finally {
    await b.close(); // its scratch directory, not the database file
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const stored = Number(process.env.BENCH_STORED ?? 1_000_000);
  const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 10_000);
  const built = process.env.BENCH_FILE ? null : await buildStored(stored, inFlight);
  const file = process.env.BENCH_FILE ?? built!.file;
  const f = await benchStartup(file, stored, inFlight);
  built?.remove();
  console.log(
    `start → ready with ${fmt(f.stored)} stored and ${fmt(f.inFlight)} in flight: ${(f.readyMs / 1000).toFixed(2)} s${f.readyMs >= 5000 ? '  (goal < 5 s)' : ''}; ` +
      `all resumed and finished ${(f.resumedMs / 1000).toFixed(2)} s after ready (event loop held at most ${f.maxStallMs.toFixed(0)} ms); ` +
      `rss at ready ${f.rssAtReadyMiB.toFixed(0)} MiB, after ${f.rssResumedMiB.toFixed(0)} MiB (heap ${f.heapResumedMiB.toFixed(0)} MiB)`,
  );
}
