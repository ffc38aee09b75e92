// review13: the pending worker gives back what the `<ipam>_release` step held when it read the
// snapshot, then PENDING_RESOLVED removed the step by name. A lifecycle resumed at start-up runs
// outside the subscriber's queue (runtime/resume.ts), so a later update's rollback can defer its own
// block into that same step (machines/context.ts nextReleaseDeferred merges by step) while the
// worker's give-back is in flight: the resolution then dropped the later block too, held in IPAM
// under the lifecycle's mark and remembered nowhere (a leak). The worker now names the generation
// it gave back, and a step a later rollback joined since stays.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createActor } from 'xstate';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import type { LifecycleEvent, PendingStep } from '../../machines/types.ts';
import type { ActorHost } from '../../runtime/actor-host.ts';
import { createPendingWorker } from '../../runtime/pending-worker.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review13: a pending IPAM release resolved names what it gave back');
const owned = (prefix: string, generation: number) => ({ prefix, prefixLength: 56, pool: 'test', generation, ipam: 'netbox' as const, netboxPrefixId: null });
const step = (generation: number, prefixes: string[]): PendingStep => ({
  step: 'netbox_release',
  key: `lc-1:update_allocate:${generation}`,
  generation,
  attempts: 1,
  next_attempt_at: null,
  task_id: null,
  release: { prefixes: prefixes.map((p, i) => owned(p, i + 1)), unconfirmed: [] },
});
const actorWith = (pending: PendingStep[]) => {
  const row = lifecycleRow({ id: 'lc-1', subscriber_id: 's-1', state: 'active', pool: 'test', prefix: '2001:db8:1::/56' });
  const snapshot = { ...decodeSnapshot({ ...row, snapshot: JSON.stringify({ v: 2, s: 'active.idle' }) }) };
  snapshot.context = { ...snapshot.context, generation: 2, pending };
  return createActor(prefixLifecycle, { snapshot: snapshot as never, input: undefined as never }).start();
};

test('PENDING_RESOLVED of an older generation keeps a release a later rollback joined; of its own generation it ends it', () => {
  const a = actorWith([step(2, ['2001:db8:a::/56', '2001:db8:b::/56'])]);
  a.send({ type: 'PENDING_RESOLVED', step: 'netbox_release', generation: 1 } as LifecycleEvent);
  assert.equal(a.getSnapshot().context.pending.map((p) => p.release?.prefixes.map((x) => x.prefix)), [['2001:db8:a::/56', '2001:db8:b::/56']]);
  a.send({ type: 'PENDING_RESOLVED', step: 'netbox_release', generation: 2 } as LifecycleEvent);
  assert.equal(a.getSnapshot().context.pending, []);
});

test('the worker resolves the release under the generation it read', async () => {
  const a = actorWith([step(1, ['2001:db8:a::/56'])]);
  const sent: LifecycleEvent[] = [];
  const host = {
    exclusive: (_s: string, fn: () => Promise<unknown>) => fn(),
    snapshot: async () => a.getSnapshot(),
    send: async (_id: string, e: LifecycleEvent) => (sent.push(e), a.getSnapshot()),
    settle: async () => ({ snapshot: a.getSnapshot(), settled: true }),
  } as unknown as ActorHost;
  const worker = createPendingWorker({
    store: { get: async () => undefined, newerOnCpe: async () => null, duePending: async () => [{ id: 'lc-1', subscriber_id: 's-1', next_pending_at: '2026-01-01T00:00:00.000Z' }], countDue: async () => 1 },
    host,
    cpe: null,
    ipam: createFakeIpam([{ name: 'test', prefix: '2001:db8::/32', prefixLength: 56 }]),
    log: pino({ level: 'silent' }),
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
  });
  await worker.tick();
  assert.equal(sent, [{ type: 'PENDING_RESOLVED', step: 'netbox_release', generation: 1 }]);
});

test.run();
