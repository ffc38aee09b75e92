// A group commit that holds an allocation made at once wrote the batch's other snapshots with
// saveBatch() inside its transaction: a savepoint around all of them. With the journal in memory
// (temp_store = MEMORY) writes inside one savepoint cost quadratically: 15,000 snapshots of live
// lifecycles took 3.8 s in it, 0.34 s without it. The transaction is all or none already, so the
// saves go in it without a savepoint; only each allocation keeps its own (a few rows).
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { ActorHost } from '../../runtime/actor-host.ts';
import { loggerOptions } from '../../runtime/log-context.ts';
import { createAllocateNow, createStepActors } from '../../runtime/step-actors.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { openDatabase } from '../../store/db.ts';
import { asyncOf } from '../../store/port.ts';
import { createLifecycleStore, type LifecycleStore } from '../../store/lifecycles.ts';

const test = suite('review14 savepoint: the group commit writes its snapshots outside any savepoint');

const N = 300;

/** The store, recording how many rows each savepoint (a transaction inside another) wrote. */
function counted(inner: LifecycleStore) {
  let depth = 0;
  const perSavepoint: number[] = [];
  const open: number[] = [];
  const wrote = (rows: number) => {
    if (open.length) open[open.length - 1]! += rows;
  };
  const store: LifecycleStore = Object.assign(Object.create(inner) as LifecycleStore, {
    transaction<T>(fn: () => T): T {
      depth++;
      if (depth > 1) open.push(0);
      try {
        return inner.transaction(fn);
      } finally {
        if (depth > 1) perSavepoint.push(open.pop()!);
        depth--;
      }
    },
    saveBatch(items: Parameters<LifecycleStore['saveBatch']>[0]) {
      // Inside a transaction saveBatch is a savepoint of its own.
      if (depth > 0) perSavepoint.push(items.length);
      else wrote(items.length);
      inner.saveBatch(items);
    },
    writeBatch(items: Parameters<LifecycleStore['writeBatch']>[0]) {
      wrote(items.length);
      inner.writeBatch(items);
    },
  });
  return { store, perSavepoint };
}

test('snapshots and an allocation made at once in one turn: no savepoint holds more than one allocation\'s rows', async () => {
  const db = openDatabase(':memory:');
  const { store, perSavepoint } = counted(createLifecycleStore(db));
  const ipam = createEmbeddedIpam(db, [{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const log = pino(loggerOptions('info'), { write: () => {} });
  const actors = createStepActors({ ipam, replies: null, sessions: null, cpe: null }, {
    retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
    log,
    onStep: () => {},
    ipamKind: () => 'embedded',
    afterCommit: () => host.afterCommit(),
  });
  const host: ActorHost = new ActorHost({
    store: asyncOf(store),
    sqlite: store,
    machine: prefixLifecycle.provide({ actors }),
    log,
    idleMs: 60_000,
    allocateNow: createAllocateNow({ ipam }, { onStep: () => {}, ipamKind: () => 'embedded' }),
  });
  const input = (i: number) => ({ lifecycleId: `0190a000-0000-7000-8000-${String(i).padStart(12, '0')}`, subscriberId: `sub-${i}`, pool: 'p', prefixLength: 56, ipam: 'embedded' as const });
  // One turn: N lifecycles created through actors (their snapshots queued), and one made at once.
  for (let i = 1; i <= N; i++) host.create(input(i));
  const made = await host.createAtOnce(input(0));
  assert.ok(made, 'the allocation was made at once, in the batch with the snapshots');
  assert.is((db.prepare('SELECT count(*) AS n FROM lifecycles').get() as { n: number }).n, N + 1, 'every lifecycle stored');
  assert.ok(perSavepoint.length > 0, 'the allocation had its savepoint');
  assert.ok(Math.max(...perSavepoint) <= 2, `rows written in one savepoint: ${Math.max(...perSavepoint)} (the batch's ${N} snapshots in one)`);
  for (let i = 1; i <= N; i++) await host.settle(input(i).lifecycleId, 5000);
  host.stopAll();
  db.close();
});

test.run();
