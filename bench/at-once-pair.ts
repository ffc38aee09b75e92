// The service's own CPU per allocation made at once, this tree beside another checkout of it, in
// one process: `ActorHost.createAtOnce` 50 per turn on a file database with the embedded IPAM, log
// lines to a null sink, the two trees taking turns 1,000 allocations at a time. On a shared machine
// the load's drift then falls on both alike, which separate runs cannot promise.
//   node --import tsx bench/at-once-pair.ts <other checkout> [rounds of 1,000, 40 unless given]
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { scratchDir } from './support.ts';

const hex = (k: number) => k.toString(16).padStart(12, '0');

/** A host over its own database, built from the modules of the checkout at `root`. */
async function hostOf(root: string, file: string) {
  const load = (path: string) => import(join(root, path));
  const { prefixLifecycle } = await load('machines/prefix-lifecycle.ts');
  const { ActorHost } = await load('runtime/actor-host.ts');
  const { loggerOptions } = await load('runtime/log-context.ts');
  const { createAllocateNow, createStepActors } = await load('runtime/step-actors.ts');
  const { createEmbeddedIpam } = await load('services/ipam/embedded.ts');
  const { openDatabase } = await load('store/db.ts');
  const { asyncOf } = await load('store/port.ts');
  const { createLifecycleStore } = await load('store/lifecycles.ts');
  const db = openDatabase(file);
  const store = createLifecycleStore(db);
  const ipam = createEmbeddedIpam(db, [{ name: 'p', prefix: '2001:d00::/24', prefixLength: 56 }]);
  const log = pino(loggerOptions('info'), { write: () => {} });
  const actors = createStepActors({ ipam, replies: null, sessions: null, cpe: null }, {
    retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
    log,
    onStep: () => {},
    ipamKind: () => 'embedded',
    afterCommit: () => host.afterCommit(),
  });
  const host = new ActorHost({
    store: asyncOf(store),
    sqlite: store,
    machine: prefixLifecycle.provide({ actors }),
    log,
    idleMs: 60_000,
    allocateNow: createAllocateNow({ ipam }, { onStep: () => {}, ipamKind: () => 'embedded' }),
  });
  let made = 0;
  let micros = 0;
  return {
    async run(count: number, counted = true) {
      const start = process.cpuUsage();
      for (let done = 0; done < count; done += 50) {
        const batch = [];
        for (let j = 0; j < 50; j++, made++) {
          batch.push(host.createAtOnce({ lifecycleId: `0190a000-0000-7000-8000-${hex(made)}`, subscriberId: `sub-${made}`, pool: 'p', prefixLength: 56, ipam: 'embedded' }));
        }
        if ((await Promise.all(batch)).some((r) => !r)) throw new Error(`${root}: an allocation was not made at once`);
      }
      const used = process.cpuUsage(start);
      if (counted) micros += used.user + used.system;
    },
    perAllocation: (counted: number) => micros / counted,
    close: () => (host.stopAll(), db.close()),
  };
}

const other = process.argv[2];
if (!other) throw new Error('usage: bench/at-once-pair.ts <other checkout> [rounds]');
const rounds = Number(process.argv[3] ?? 40);
const scratch = scratchDir();
try {
  const before = await hostOf(resolve(other), join(scratch.dir, 'before.db'));
  const after = await hostOf(fileURLToPath(new URL('..', import.meta.url)), join(scratch.dir, 'after.db'));
  await before.run(2000, false);
  await after.run(2000, false);
  // Each tree goes first every other round.
  for (let r = 0; r < rounds; r++) for (const h of r % 2 ? [before, after] : [after, before]) await h.run(1000);
  const [b, a] = [before.perAllocation(rounds * 1000), after.perAllocation(rounds * 1000)];
  console.log(`${rounds * 1000} allocations made at once each: ${other} ${b.toFixed(1)} µs, this tree ${a.toFixed(1)} µs CPU per allocation (${(((a - b) / b) * 100).toFixed(1)}%)`);
  before.close();
  after.close();
} finally {
  scratch.remove();
}
