import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { ActorHost } from '../../runtime/actor-host.ts';
import { loggerOptions, withLogScope } from '../../runtime/log-context.ts';
import { resourceOf, toResource } from '../../runtime/projection.ts';
import { createAllocateNow, createStepActors } from '../../runtime/step-actors.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { openDatabase } from '../../store/db.ts';
import { asyncOf } from '../../store/port.ts';
import { createLifecycleStore, type LifecycleStore } from '../../store/lifecycles.ts';

const test = suite('ActorHost.createAtOnce: an embedded allocation without an actor');

const AT = new Date('2026-01-02T03:04:05.678Z');

/** A host on its own database with the embedded IPAM; `atOnce` gives it the synchronous allocation. */
function host(atOnce: boolean, wrap: (s: LifecycleStore) => LifecycleStore = (s) => s) {
  const db = openDatabase(':memory:');
  const store = wrap(createLifecycleStore(db));
  const ipam = createEmbeddedIpam(db, [{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const steps: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const log = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const onStep = (step: string, outcome: string) => steps.push(`${step}:${outcome}`);
  const actors = createStepActors(
    { ipam, replies: null, sessions: null, cpe: null },
    {
      retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
      log,
      now: () => AT,
      onStep,
      ipamKind: () => 'embedded',
      afterCommit: () => h.afterCommit(),
    },
  );
  const h: ActorHost = new ActorHost({
    store: asyncOf(store),
    sqlite: store,
    machine: prefixLifecycle.provide({ actors }),
    log,
    idleMs: 60_000,
    allocateNow: atOnce ? createAllocateNow({ ipam }, { now: () => AT, onStep, ipamKind: () => 'embedded' }) : null,
  });
  const held = () => db.prepare<[], { lifecycle_id: string; prefix: string }>('SELECT lifecycle_id, prefix FROM ipam_allocations').all();
  return { host: h, store, steps, held, lines, close: () => (h.stopAll(), db.close()) };
}

const input = { lifecycleId: '0190a000-0000-7000-8000-000000000001', subscriberId: 'sub-1', pool: 'p', prefixLength: 56, ipam: 'embedded' as const };
const withoutTimes = (o: object) => ({ ...o, created_at: '-', updated_at: '-', at: '-' });

test('stores what the actor would have stored, in one commit, and keeps no actor', async () => {
  const fast = host(true);
  const slow = host(false);
  const made = await fast.host.createAtOnce(input);
  assert.ok(made, 'the allocation was made at once');
  assert.is(made.row.state, 'allocated');
  assert.is(made.row.busy, 0);
  assert.is(fast.host.size, 0, 'no actor in memory');

  slow.host.create(input);
  assert.ok((await slow.host.settle(input.lifecycleId, 5000)).settled);
  // Failed before: the embedded allocation was its own commit after the `pending` snapshot's, through an actor.
  assert.equal(withoutTimes(fast.store.get(input.lifecycleId)!), withoutTimes(slow.store.get(input.lifecycleId)!));
  assert.equal(fast.store.events(input.subscriberId).map(withoutTimes), slow.store.events(input.subscriberId).map(withoutTimes));
  assert.equal(fast.store.events(input.subscriberId).map((e) => e.type), ['CREATED', 'STEP_DONE']);
  assert.equal(fast.held(), slow.held());
  assert.equal(fast.steps, slow.steps, 'the same step metric');
  // The answer is built from the snapshot in memory: it is the resource of the stored row.
  assert.equal(resourceOf(made.row, made.snapshot.context), toResource(fast.store.get(input.lifecycleId)!));
  // The lifecycle goes on from the stored snapshot like any other.
  assert.is((await fast.host.send(input.lifecycleId, { type: 'REVOKE', reason: null })).hasTag('busy'), true);
  assert.ok((await fast.host.settle(input.lifecycleId, 5000)).settled);
  assert.is(fast.store.get(input.lifecycleId)!.state, 'revoked');
  fast.close();
  slow.close();
});

test('a lifecycle made at once hydrates from its rows and goes on (activate, then revoke) exactly as one made by an actor', async () => {
  const fast = host(true);
  const slow = host(false);
  assert.ok(await fast.host.createAtOnce(input));
  slow.host.create(input);
  assert.ok((await slow.host.settle(input.lifecycleId, 5000)).settled);
  for (const h of [fast, slow]) {
    // From the store: no actor of it was ever in memory on the fast host.
    h.host.stopAll();
    await h.host.send(input.lifecycleId, { type: 'ACTIVATE', username: 'u"1', cpeId: 'cpe-1' });
    assert.ok((await h.host.settle(input.lifecycleId, 5000)).settled);
    assert.is(h.store.get(input.lifecycleId)!.state, 'active');
    await h.host.send(input.lifecycleId, { type: 'REVOKE', reason: 'moved' });
    assert.ok((await h.host.settle(input.lifecycleId, 5000)).settled);
  }
  assert.equal(withoutTimes(fast.store.get(input.lifecycleId)!), withoutTimes(slow.store.get(input.lifecycleId)!));
  const trail = (h: typeof fast) => h.store.events(input.subscriberId).map(withoutTimes);
  assert.equal(trail(fast), trail(slow));
  const events = fast.store.events(input.subscriberId);
  assert.equal(events.map((e) => e.type).slice(0, 3), ['CREATED', 'STEP_DONE', 'ACTIVATE']);
  assert.is(events.at(-1)!.to_state, 'revoked');
  assert.equal(fast.held(), slow.held());
  fast.close();
  slow.close();
});

test('its lifecycle event lines name the lifecycle and the request that made it', async () => {
  const h = host(true);
  await withLogScope({ request_id: 'req-1' }, () => h.host.createAtOnce(input));
  const events = h.lines.filter((l) => l.msg === 'lifecycle event');
  assert.equal(events.map((l) => [l.event, l.from, l.to, l.request_id, l.subscriber_id, l.lifecycle_id, l.level]), [
    ['CREATED', null, 'pending', 'req-1', input.subscriberId, input.lifecycleId, 'info'],
    ['STEP_DONE', 'pending', 'allocated.idle', 'req-1', input.subscriberId, input.lifecycleId, 'info'],
  ]);
  h.close();
});

test('a write that fails after the allocation leaves no IPAM row: one transaction', async () => {
  const h = host(true, (s) => ({
    ...s,
    writeBatch: (items) => {
      if (items.some((i) => i.rowStored)) throw new Error('SQLITE_FULL: database or disk is full');
      s.writeBatch(items);
    },
  }));
  assert.is(await h.host.createAtOnce(input), null, 'not made: the caller runs the step instead');
  assert.equal(h.held(), [], 'the allocation went with the failed write');
  assert.is(h.store.get(input.lifecycleId), undefined);
  assert.equal(h.store.events(input.subscriberId), []);
  assert.equal(h.steps, [], 'no step reported');
  h.close();
});

test('a write that throws after its IPAM row takes that row away; the other lifecycles of the batch are stored', async () => {
  const ids = [1, 2, 3].map((n) => `0190a000-0000-7000-8000-00000000000${n}`);
  const failing = ids[1]!;
  let fail = true;
  const h = host(true, (s) => ({
    ...s,
    writeBatch: (items) => {
      // The audit entries are written after the row: the lifecycle row and the IPAM row are in, then this throws.
      s.writeBatch(items.filter((i) => !i.rowStored));
      if (fail && items[0]!.row.id === failing) throw new Error('SQLITE_CONSTRAINT: a write after the IPAM row');
      s.writeBatch(items.filter((i) => i.rowStored));
    },
  }));
  // One turn of the event loop: the three are one batch, one transaction.
  const made = await Promise.all(ids.map((lifecycleId, i) => h.host.createAtOnce({ ...input, lifecycleId, subscriberId: `sub-${i}` })));
  assert.equal(made.map((m) => m?.row.state ?? null), ['allocated', null, 'allocated']);
  assert.equal(h.held().map((r) => r.lifecycle_id).sort(), [ids[0], ids[2]], 'the failing one\'s IPAM row went with its savepoint');
  assert.equal([h.store.get(ids[0]!)?.state, h.store.get(failing), h.store.get(ids[2]!)?.state], ['allocated', undefined, 'allocated']);
  assert.equal(h.store.events('sub-1'), [], 'nothing of it in the audit trail');
  assert.equal(h.store.events('sub-0').map((e) => e.type), ['CREATED', 'STEP_DONE']);
  assert.equal(h.store.events('sub-2').map((e) => e.type), ['CREATED', 'STEP_DONE']);
  // Its block went back to free space with the rollback, within the batch: the third lifecycle got it.
  assert.equal(made.map((m) => m?.row.prefix ?? null), ['2001:db8::/56', null, '2001:db8:0:100::/56']);
  // Nothing of its key is spent: it is made at once on the next try.
  fail = false;
  const again = await h.host.createAtOnce({ ...input, lifecycleId: failing, subscriberId: 'sub-1' });
  assert.equal([again?.row.state, again?.row.prefix], ['allocated', '2001:db8:0:200::/56']);
  h.close();
});

test('an allocation the IPAM refuses is left to the step (its refusal path), nothing written', async () => {
  const h = host(true);
  assert.is(await h.host.createAtOnce({ ...input, pool: 'nope' }), null);
  assert.equal(h.held(), []);
  assert.equal(h.store.events(input.subscriberId), []);
  h.close();
});

test.run();
