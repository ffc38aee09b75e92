// `npm run bench`: prints the runtime's figures in one run. Never a pass/fail: the numbers are for
// people (and for the issue's goal, transitions/s at least half of raw upserts/s).
//   BENCH_SCALE=0.2 npm run bench    a quicker, noisier run
//   npm run bench -- transitions     only some sections: transitions, memory, ipam, metrics, scans, pending, allocate, lifecycles, storage, import, stores, radius, takeover
import { benchBareHttp } from './bare-http.ts';
import { benchHttpAllocate, benchHttpStack, benchHttpLifecycles } from './http-allocate.ts';
import { benchImport } from './import.ts';
import { benchIpam } from './ipam.ts';
import { buildStored } from './build.ts';
import { benchDbSize, printDbSize } from './db-size.ts';
import { benchAllocating, benchInFlight, benchMemory } from './memory.ts';
import { benchStartup } from './startup.ts';
import { benchMetrics } from './metrics.ts';
import { benchRawUpserts } from './raw-upserts.ts';
import { benchRadiusBackends } from './radius-backends.ts';
import { benchPending, benchScans } from './scans.ts';
import { benchSqlippool, SQLIPPOOL_VARIANT } from './sqlippool.ts';
import { benchStores } from './stores.ts';
import { benchTakeover } from './takeover.ts';
import { loadavg } from 'node:os';
import { fmt } from './support.ts';
import { benchTransitions } from './transitions.ts';

const scale = Number(process.env.BENCH_SCALE ?? 1);
const n = (count: number) => Math.max(10, Math.round(count * scale));
const sections = new Set(process.argv.slice(2));
const wanted = (name: string) => sections.size === 0 || sections.has(name);
const loadAverage = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const mib = (x: number) => `${x.toFixed(1)} MiB`;

if (wanted('transitions')) {
  const t = await benchTransitions(n(2000), 50);
  const raw = benchRawUpserts(t.sampleRow, n(50_000));
  const ratio = t.perSecond / raw.upsertsPerSecond;
  console.log(`transitions/s: ${fmt(t.perSecond)}  raw upserts/s: ${fmt(raw.upsertsPerSecond)}  ratio: ${ratio.toFixed(2)}${ratio < 0.5 ? '  (goal ≥ 0.5)' : ''}`);
  console.log(
    `  ${fmt(t.transitions)} persisted transitions (${fmt(t.subscribers)} subscribers × allocate, activate, suspend, reactivate, revoke; ` +
      `${t.concurrency} at a time) in ${(t.ms / 1000).toFixed(2)} s; store.save (upsert + audit row, one transaction)/s: ${fmt(raw.savesPerSecond)}`,
  );
  if (ratio < 0.5) console.log('  profile it: node --cpu-prof --import tsx bench/run.ts transitions');
}

if (wanted('memory')) {
  const m = await benchMemory([n(10_000), n(40_000)]);
  for (const r of m.readings) {
    console.log(
      `memory with ${fmt(r.stored)} lifecycles stored: before hydrating rss ${mib(r.baseline.rssMiB)} heap ${mib(r.baseline.heapMiB)}; ` +
        `${fmt(r.hydrated.actors)} actors hydrated rss ${mib(r.hydrated.rssMiB)} heap ${mib(r.hydrated.heapMiB)}; ` +
        `after eviction (${r.evicted.actors} left) rss ${mib(r.evicted.rssMiB)} heap ${mib(r.evicted.heapMiB)}`,
    );
  }
  console.log(`  actors still in memory after ${fmt(m.rejected)} refused operations (invalid_transition) and 5× idle_ms: ${fmt(m.leftAfterRejected)}`);
}

if (wanted('ipam')) {
  const i = await benchIpam(n(20_000));
  console.log(
    `embedded IPAM allocations/s: ${fmt(i.allocatePerSecond)}  (${fmt(i.allocations)} /56 from a /32; then releases/s: ${fmt(i.releasePerSecond)}, ` +
      `allocations into the holes/s: ${fmt(i.refillPerSecond)})`,
  );
}

if (wanted('metrics')) {
  const m = await benchMetrics(n(1_000_000));
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(
    `GET /metrics with ${fmt(m.lifecycles)} lifecycles stored: scrape median ${ms(m.scrapeMedianMs)}, worst ${ms(m.scrapeMaxMs)}` +
      `${m.scrapeMedianMs >= 10 ? '  (goal < 10 ms)' : ''}; the per-scrape GROUP BY it replaces: ${ms(m.groupByMs)}`,
  );
  console.log(
    `  instrumentation per transition: counting triggers ${m.triggerUs.toFixed(2)} µs (a write ${m.writeUs.toFixed(2)} µs, ${m.writeWithoutTriggersUs.toFixed(2)} µs without them)` +
      ` + hooks ${m.hooksUs.toFixed(2)} µs = ${(m.triggerUs + m.hooksUs).toFixed(2)} µs${m.triggerUs + m.hooksUs >= 10 ? '  (goal < 10 µs)' : ''}`,
  );
  console.log(`  ${fmt(m.lifecycles)} lifecycles built in ${(m.buildMs / 1000).toFixed(1)} s (the store's upsert and the embedded IPAM, in bulk)`);
}

if (wanted('scans')) {
  const s = await benchScans(n(1_000_000));
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const t = (label: string, x: { ms: number; maxStallMs: number; maxSliceCpuMs: number }, goalMs?: number) =>
    `  ${label}: ${ms(x.ms)}, worst event-loop stall ${ms(x.maxStallMs)}${x.maxStallMs > 50 ? '  (goal ≤ 50 ms)' : ''} ` +
    `(CPU of the longest slice ${ms(x.maxSliceCpuMs)})${goalMs !== undefined && x.ms >= goalMs ? `  (goal < ${goalMs} ms)` : ''}`;
  const built = process.env.BENCH_SCANS_FILE ? `opened from ${process.env.BENCH_SCANS_FILE} (built before, or now if absent) in ${(s.buildMs / 1000).toFixed(1)} s` : `built in ${(s.buildMs / 1000).toFixed(1)} s through the IPAM's allocate and the store's upsert`;
  console.log(`scans with ${fmt(s.held)} prefixes held (embedded IPAM), ${built}:`);
  console.log(t('leak check', s.leakCheck));
  console.log(t('clean-up (check, reclaim, sweep)', s.cleanup));
  console.log(t('GET /api/v1/network/ipv6/metrics summary', s.summary, 10));
  console.log(t('GET /metrics scrape', s.scrape, 10));
  console.log(t('sharedPrefixes()', s.shared));
}

if (wanted('pending')) {
  const p = await benchPending(n(10_000));
  console.log(
    `pending worker: ${fmt(p.pending)} pending CPE steps in one pass in ${(p.passMs / 1000).toFixed(2)} s (pending_interval_ms ${fmt(p.intervalMs)})` +
      `${p.passMs >= p.intervalMs ? '  (goal: within one interval)' : ''}; at most ${p.maxInFlight} in flight at the ACS (limit ${p.limit}), ` +
      `${fmt(p.completed)} answered; worst event-loop stall ${p.maxStallMs.toFixed(1)} ms (CPU of the longest slice ${p.maxSliceCpuMs.toFixed(1)} ms)`,
  );
}

if (wanted('allocate')) {
  // Same run, one after the other (never at once: each would take the other's CPU).
  const fr = benchSqlippool(n(20_000));
  const us = await benchHttpAllocate(n(20_000), 50);
  const cpu = (x: number) => `${x.toFixed(0)} µs`;
  const ratio = fr ? us.perSecond / fr.perSecond : null;
  console.log(
    `allocations/s through POST /allocate (embedded IPAM, default config): ${fmt(Math.round(us.perSecond))}, CPU per allocation ${cpu(us.cpuUsPerOp)}` +
      `${us.cpuUsPerOp > 100 ? '  (goal ≤ 100 µs)' : ''}${us.failures ? `  (${fmt(us.failures)} answers not 201!)` : ''}`,
  );
  if (fr) {
    console.log(
      `  FreeRADIUS rlm_sqlippool (${SQLIPPOOL_VARIANT}): ${fmt(Math.round(fr.perSecond))}/s, CPU per allocation ${cpu(fr.cpuUsPerOp)}` +
        `${fr.passed !== fr.allocations ? `  (only ${fmt(fr.passed)} Accepts with a prefix!)` : ''}; ratio ${ratio!.toFixed(2)}${ratio! < 1.5 ? '  (goal ≥ 1.5)' : ''}`,
    );
  } else console.log('  FreeRADIUS rlm_sqlippool: not run (freeradius, radclient or ../shared/contracts/freeradius-sqlippool missing)');
  const stack = await benchHttpStack(n(20_000), 50);
  const bare = await benchBareHttp(n(20_000));
  const koa = await benchBareHttp(n(20_000), true);
  console.log(
    `  floors with the same client: the HTTP stack with the service stubbed ${cpu(stack.cpuUsPerOp)} per request (${fmt(Math.round(stack.perSecond))}/s), ` +
      `a bare Koa app ${cpu(koa.cpuUsPerOp)} (${fmt(Math.round(koa.perSecond))}/s), ` +
      `a bare node:http server ${cpu(bare.cpuUsPerOp)} (${fmt(Math.round(bare.perSecond))}/s)${stack.failures + bare.failures + koa.failures ? '  (unexpected answers!)' : ''}`,
  );
  console.log(`  ${fmt(us.operations)} subscribers, 50 at a time over keep-alive; radclient -p 50; load average ${loadAverage()}`);
  console.log('  profile it: node --import tsx bench/profile-allocate.ts');
}

if (wanted('lifecycles')) {
  const plain = await benchHttpLifecycles(n(5_000), 50, false);
  const radius = await benchHttpLifecycles(n(5_000), 50, true);
  const slower = 1 - radius.perSecond / plain.perSecond;
  const bad = plain.failures + radius.failures;
  console.log(
    `full lifecycles (allocate → activate → revoke) through the API: operations/s ${fmt(Math.round(plain.perSecond))} without RADIUS, ${fmt(Math.round(radius.perSecond))} with FreeRADIUS's SQLite ` +
      `(${(slower * 100).toFixed(0)}% slower${slower > 0.2 ? ', goal ≤ 20%' : ''}); CPU per operation ${plain.cpuUsPerOp.toFixed(0)} / ${radius.cpuUsPerOp.toFixed(0)} µs` +
      `${bad ? `  (${fmt(bad)} unexpected answers!)` : ''}; load average ${loadAverage()}`,
  );
}

if (wanted('storage')) {
  // bench/build.ts, bench/startup.ts and bench/memory.ts on their own take BENCH_STORED (10M: see BENCHMARKS.md).
  // Through the API with the audit trail, as the issue measured it (2.05 KB; goal: half).
  printDbSize('allocated', await benchDbSize(n(3_000), false));
  const stored = n(1_000_000);
  const inFlight = n(10_000);
  const built = await buildStored(stored, inFlight);
  console.log(`built ${fmt(stored)} stored lifecycles: ${fmt(built.rowsPerSecond)} rows/s, ${fmt(Math.round(built.bytesPerLifecycle))} bytes of database per lifecycle (no audit trail)`);
  const s = await benchStartup(built.file, stored, inFlight);
  console.log(
    `  start → ready with ${fmt(inFlight)} in flight: ${(s.readyMs / 1000).toFixed(2)} s${s.readyMs >= 5000 ? '  (goal < 5 s)' : ''}; all resumed ${(s.resumedMs / 1000).toFixed(2)} s later ` +
      `(event loop held at most ${s.maxStallMs.toFixed(0)} ms); rss at ready ${mib(s.rssAtReadyMiB)}, after ${mib(s.rssResumedMiB)}`,
  );
  built.remove();
  // The default runtime.park_ms (1 s): the steps wait longer, so each in-flight lifecycle is parked.
  const f = await benchInFlight(inFlight, 1000);
  console.log(
    `  ${fmt(inFlight)} in flight (${fmt(f.parked)} parked, ${fmt(f.actors)} actors): ${fmt(Math.round(f.heapPerLifecycleB))} bytes of heap each` +
      `${f.heapPerLifecycleB > 5120 ? '  (goal ≤ 5 KB)' : ''}, rss ${mib(f.rssMiB)}`,
  );
  const a = await benchAllocating(n(20_000));
  console.log(`  allocating flat out: ${fmt(a.lifecycles)} allocations, peak rss ${mib(a.peakRssMiB)}${a.peakRssMiB >= 512 ? '  (goal < 512 MB)' : ''}`);
}

if (wanted('import')) {
  const r = await benchImport(n(100_000));
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(
    `import of ${fmt(r.subscribers)} subscribers (file source, embedded IPAM): dry run ${s(r.dryRunMs)}, applied ${s(r.applyMs)}` +
      `${r.applyMs >= 60_000 ? '  (goal < 60 s)' : ''} (${fmt(r.adopted)} adopted); a second run ${s(r.rerunMs)}, adopting ${fmt(r.adoptedAgain)}`,
  );
}

if (wanted('stores')) {
  // The store port on each backend (bench/stores.ts): the runtime does not run on PostgreSQL yet.
  const s = await benchStores(n(10_000));
  const w = (f: { perSecond: number; p99Ms: number }) => `${fmt(f.perSecond)} snapshots/s (p99 batch ${f.p99Ms.toFixed(1)} ms)`;
  console.log(`store port, batches of 50: SQLite ${w(s.sqlite)}`);
  if (s.postgresql) {
    console.log(`  PostgreSQL, one instance: ${w(s.postgresql.one)}; three instances on one database: ${w(s.postgresql.three)}`);
    console.log(`  embedded IPAM on PostgreSQL: allocations/s ${fmt(s.postgresql.ipamOne)} from one instance, ${fmt(s.postgresql.ipamThree)} from three (one pool: its row lock serializes them)`);
  } else console.log('  PostgreSQL: not installed (apt-get install postgresql), not measured');
}

if (wanted('radius')) {
  const r = await benchRadiusBackends(n(200));
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  for (const b of r.results) console.log(`revocation latency with radreply in ${b.backend}: p50 ${ms(b.p50Ms)}, p99 ${ms(b.p99Ms)} (${b.revocations} revocations, one at a time)`);
  for (const s of r.skipped) console.log(`  revocation latency: ${s} not measured (not installed)`);
}

if (wanted('takeover')) {
  // Three instances on one PostgreSQL; a revocation's owner SIGKILLed mid-step (bench/takeover.ts).
  const t = await benchTakeover(Math.max(3, Math.round(5 * scale)));
  if (!t) console.log('take-over after a kill: PostgreSQL not installed (apt-get install postgresql), not measured');
  else {
    console.log(
      `take-over after SIGKILL of a revocation's owner (three instances, store.lease_ms ${t.leaseMs}): median ${(t.medianMs / 1000).toFixed(2)} s ` +
        `until a survivor reports it settled (runs: ${t.runsMs.map((ms) => (ms / 1000).toFixed(2)).join(', ')} s)${t.notRevoked ? `; ${t.notRevoked} did not end revoked` : ''}`,
    );
  }
}
