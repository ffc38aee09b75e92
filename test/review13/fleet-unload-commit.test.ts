// Review 13: an instance died of an unhandled rejection (`read ECONNRESET`) when PostgreSQL went away
// under a revocation (test/e2e/instances-review-outages, 1 run in 4). The unload scheduled after a
// turn's group commit (a revoked lifecycle, or more actors than runtime.max_live_actors) chained
// `.finally()` on the commit's promise and dropped it: a failed commit rejected that chain unhandled.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { ActorHost } from '../../runtime/actor-host.ts';
import { createStepActors } from '../../runtime/step-actors.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import { openDatabase } from '../../store/db.ts';
import { asyncOf } from '../../store/port.ts';
import { createLifecycleStore, type LifecycleStore } from '../../store/lifecycles.ts';

const test = suite('review13: a failed group commit with an unload scheduled after it');

test('past max_live_actors, the commit of settled snapshots fails → the actors stop, and nothing is left rejected unhandled', async () => {
  const unhandled: unknown[] = [];
  const catchIt = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', catchIt);
  const db = openDatabase(':memory:');
  const real = createLifecycleStore(db);
  const control = { failSaves: false };
  const store: LifecycleStore = {
    ...real,
    saveBatch: (items) => {
      if (control.failSaves) throw new Error('read ECONNRESET');
      real.saveBatch(items);
    },
  };
  const fake = createFakeIpam([{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const log = pino({ level: 'silent' });
  const actors = createStepActors(
    {
      // The database goes away while the allocations are out: their outcome cannot be stored.
      ipam: { ...fake, allocate: async (cmd, signal) => {
        const got = await fake.allocate(cmd, signal);
        control.failSaves = true;
        return got;
      } },
      replies: null,
      sessions: null,
      cpe: null,
    },
    {
      retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
      log,
      afterCommit: () => host.afterCommit(),
    },
  );
  const host: ActorHost = new ActorHost({ store: asyncOf(store), sqlite: store, machine: prefixLifecycle.provide({ actors }), log, idleMs: 60_000, maxLive: 1 });
  const input = (id: string) => ({ lifecycleId: id, subscriberId: `sub-${id}`, pool: 'p', prefixLength: 56, ipam: 'embedded' as const });
  try {
    for (const id of ['a', 'b']) host.create(input(id));
    const outcomes = await Promise.all(['a', 'b'].map((id) => host.settle(id, 2000).then(() => 'settled', (e: Error) => e.message)));
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(outcomes.every((o) => /could not be stored|unavailable|ECONNRESET/.test(o)), JSON.stringify(outcomes));
    assert.equal(unhandled.map(String), [], 'an unhandled rejection ends the process (Node 20)');
  } finally {
    process.removeListener('unhandledRejection', catchIt);
    host.stopAll();
    db.close();
  }
});

test.run();
