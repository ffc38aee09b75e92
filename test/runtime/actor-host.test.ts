import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { ActorHost } from '../../runtime/actor-host.ts';
import { createStepActors } from '../../runtime/step-actors.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { ServiceError } from '../../services/errors.ts';
import { openDatabase } from '../../store/db.ts';
import { asyncOf } from '../../store/port.ts';
import { createLifecycleStore, type LifecycleStore } from '../../store/lifecycles.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('ActorHost');
let h: Harness;

// idle_ms is long enough that three allocations on a loaded machine all find their actors still
// there (at 100 ms the first was unloaded before the third answered), and the waits are past it.
const IDLE_MS = 1000;
const PAST_IDLE_MS = 2500;
test.before.each(async () => {
  h = await startHarness({ config: { runtime: { idle_ms: IDLE_MS } } });
});
test.after.each(async () => {
  await h.close();
});

test('settled actors are unloaded after idle_ms; the store keeps them and they come back on demand', async () => {
  for (const s of ['a', 'b', 'c']) await h.post('allocate', { subscriber_id: s });
  assert.is(h.composed.host.size, 3);
  await sleep(PAST_IDLE_MS);
  assert.is(h.composed.host.size, 0);
  const again = await h.post('activate', { subscriber_id: 'b', username: 'b@isp' });
  assert.is(again.body.state, 'active');
  assert.is(h.composed.host.size, 1);
});

test('an operation refused as invalid_transition does not keep its actor in memory', async () => {
  await h.post('allocate', { subscriber_id: 'r' });
  await sleep(PAST_IDLE_MS);
  assert.is(h.composed.host.size, 0);
  const refused = await h.post('suspend', { subscriber_id: 'r' });
  assert.is(refused.status, 409);
  assert.is(h.composed.host.size, 1, 'hydrated to check the transition');
  await sleep(PAST_IDLE_MS);
  assert.is(h.composed.host.size, 0);
});

test.run();

const direct = suite('ActorHost: group commit and settle');

/**
 * A host over an in-memory store, the fake IPAM wrapped by `wrap`, and no other ports. `failSaves`
 * makes the store's batch writes throw, as a full disk would.
 */
function directHost(wrap: (ipam: IpamPort, store: LifecycleStore) => IpamPort) {
  const db = openDatabase(':memory:');
  const real = createLifecycleStore(db);
  const control = { failSaves: false };
  const store: LifecycleStore = {
    ...real,
    saveBatch: (items) => {
      if (control.failSaves) throw new Error('SQLITE_FULL: database or disk is full');
      real.saveBatch(items);
    },
  };
  const fake = createFakeIpam([{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const log = pino({ level: 'silent' });
  const actors = createStepActors(
    { ipam: wrap(fake, real), replies: null, sessions: null, cpe: null },
    {
      retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
      log,
      afterCommit: () => host.afterCommit(),
    },
  );
  const host: ActorHost = new ActorHost({ store: asyncOf(store), sqlite: store, machine: prefixLifecycle.provide({ actors }), log, idleMs: 60_000 });
  const input = (id: string) => ({ lifecycleId: id, subscriberId: `sub-${id}`, pool: 'p', prefixLength: 56, ipam: 'embedded' as const });
  return { host, store: real, control, input, close: () => (host.stopAll(), db.close()) };
}

direct('a step reaches its port only once the snapshot that started it is on disk', async () => {
  const seen: { id: string; stored: string | null; busy: number | null }[] = [];
  const h = directHost((ipam, store) => ({
    ...ipam,
    allocate(cmd, signal) {
      const row = store.get(cmd.lifecycleId);
      seen.push({ id: cmd.lifecycleId, stored: row?.state ?? null, busy: row?.busy ?? null });
      return ipam.allocate(cmd, signal);
    },
  }));
  // Several lifecycles start in one turn: their first snapshots go to disk in one commit, then the steps run.
  for (const id of ['a', 'b', 'c']) h.host.create(h.input(id));
  const settled = await Promise.all(['a', 'b', 'c'].map((id) => h.host.settle(id, 5000)));
  assert.equal(settled.map((s) => s.settled), [true, true, true]);
  assert.equal(seen.map((s) => s.id), ['a', 'b', 'c']);
  assert.ok(seen.every((s) => s.stored !== null && s.busy === 1), `the port saw ${JSON.stringify(seen)}`);
  assert.ok(['a', 'b', 'c'].every((id) => h.store.get(id)?.prefix), 'and the outcome is stored too');
  h.close();
});

direct('a snapshot that cannot be stored stops its actor: the step never runs, settle() rejects with 503 unavailable at once', async () => {
  let calls = 0;
  const h = directHost((ipam) => ({
    ...ipam,
    allocate(cmd, signal) {
      calls++;
      return ipam.allocate(cmd, signal);
    },
  }));
  h.control.failSaves = true;
  h.host.create(h.input('full'));
  const started = Date.now();
  const err = await h.host.settle('full', 5000).then(
    () => null,
    (e: unknown) => e as ServiceError,
  );
  assert.ok(err instanceof ServiceError, 'rejected with a ServiceError');
  assert.is(err.code, 'unavailable');
  assert.ok(err.retryAfterMs, 'with a time to retry after');
  assert.ok(Date.now() - started < 1000, `settle() waited ${Date.now() - started} ms for a stopped actor`);
  assert.is(calls, 0);
  assert.is(h.host.size, 0, 'the actor was stopped and unloaded');
  assert.match(h.host.storeProblem ?? '', /writes to the database fail/);
  assert.is(h.store.get('full'), undefined);
  // The next batch is written: the store works again and a new lifecycle goes through.
  h.control.failSaves = false;
  h.host.create(h.input('next'));
  assert.is((await h.host.settle('next', 5000)).settled, true);
  assert.is(h.host.storeProblem, null, 'a write that went through clears it');
  assert.is(calls, 1);
  assert.ok(h.store.get('next')?.prefix);
  h.close();
});

direct('settle() ends when the actor is stopped while a step is in flight', async () => {
  const h = directHost((ipam) => ({
    ...ipam,
    // Hangs until the step is aborted.
    allocate: (_cmd, signal) => new Promise((_resolve, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
  }));
  h.host.create(h.input('hang'));
  const waiting = h.host.settle('hang', 10_000);
  await sleep(20);
  const started = Date.now();
  h.host.stopAll();
  const { settled, snapshot } = await waiting;
  assert.ok(Date.now() - started < 1000, `settle() took ${Date.now() - started} ms after the stop`);
  assert.is(settled, false, 'the step was still in flight');
  assert.ok(snapshot.hasTag('busy'));
  h.close();
});

direct.run();
