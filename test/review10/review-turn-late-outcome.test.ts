// Review 10 (review of 516d276): once an operation has started (it is past Turn.start) but has not
// sent its event within ?wait= + 250 ms, #within waits 250 ms more for it and then answered 202 with
// the lifecycle on disk, whatever that wait heard: an allocate whose at-once allocation (one commit
// of the embedded IPAM's step, slow on a busy database) failed meanwhile answered 202 showing the
// subscriber's old, revoked lifecycle, an accepted operation that was never stored and never runs,
// and one that succeeded meanwhile answered 202 instead of its 201. What comes in that wait is the
// answer, as in the waits before it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ActorHost } from '../../runtime/actor-host.ts';
import { LifecycleService } from '../../runtime/lifecycle-service.ts';
import { ServiceError } from '../../services/errors.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';
import type { LifecyclePort } from '../../store/port.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review10: what an operation that started comes to in its last wait is its answer');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CTX = { pending: [], failure: null, lastError: null };
const old = lifecycleRow({ id: 'old', subscriber_id: 's', state: 'revoked', revoked_at: '2026-01-01T00:00:00.000Z' }, CTX);

/** A service whose at-once allocation takes `ms` and then gives `outcome`. */
function service(ms: number, outcome: () => { snapshot: { context: Record<string, unknown> }; row: LifecycleRow }) {
  const host = {
    exclusive: <T>(_s: string, fn: () => Promise<T>, heard?: { resolve(v: T): void; reject(e: unknown): void }) => {
      const run = fn();
      run.then(
        (v) => heard?.resolve(v),
        (e: unknown) => heard?.reject(e),
      );
      return run;
    },
    createAtOnce: async () => (await sleep(ms), outcome()),
    afterCommit: async () => undefined,
  } as unknown as ActorHost;
  const store = {
    live: async () => null,
    latest: async () => old,
    events: async () => [],
  } as unknown as LifecyclePort;
  return new LifecycleService({ host, store, pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'embedded' }], defaultPool: 'residential' });
}

test('allocate?wait=0 whose allocation fails 400 ms in: the failure, not 202 with the old revoked lifecycle', async () => {
  const svc = service(400, () => {
    throw new ServiceError('unavailable', 'the store refused the write');
  });
  const answer = await svc.allocate({ subscriber_id: 's' }, 0).then(
    (a) => ({ accepted: a.lifecycle.lifecycle_id, state: a.lifecycle.state, settled: a.settled }),
    (err: ServiceError) => ({ error: err.code ?? String(err) }),
  );
  assert.equal(answer, { error: 'unavailable' });
});

test('allocate?wait=0 whose allocation succeeds 400 ms in: the new lifecycle, settled (201)', async () => {
  const row = lifecycleRow({ id: 'new', subscriber_id: 's', state: 'allocated', prefix: '2001:db8:0:100::/56' }, CTX);
  const svc = service(400, () => ({ snapshot: { context: CTX }, row }));
  const answer = await svc.allocate({ subscriber_id: 's' }, 0);
  assert.is(answer.lifecycle.lifecycle_id, 'new');
  assert.is(answer.created, true);
  assert.is(answer.settled, true);
});

test.run();
