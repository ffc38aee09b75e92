import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stepKey } from '../../machines/steps.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { withContext } from '../support/lifecycle-rows.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';

const test = suite('runtime clean-up, leak detection and pending CPE work');
let h: Harness;

test.before.each(async () => {
  h = await startHarness({ config: { runtime: { stale_allocated_after_s: 60 } } });
});
test.after.each(async () => {
  await h.close();
});

test('leak detection counts a prefix IPAM holds for a revoked lifecycle; the clean-up gives it back', async () => {
  await h.post('allocate', { subscriber_id: 'leaky' });
  const revoked = await h.post('revoke', { subscriber_id: 'leaky' });
  assert.is(revoked.body.state, 'revoked');
  // Something outside the lifecycle (a hand edit, an old bug) allocated under its id afterwards.
  await h.ipam.allocate({ key: 'stray', lifecycleId: revoked.body.lifecycle_id, subscriberId: 'leaky', pool: 'residential', prefixLength: 56 });
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 1);
  const result = await h.composed.cleanup();
  assert.is(result.reclaimed, 1);
  assert.equal(h.ipam.allocations(), []);
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 0);
});

test('a prefix of a live lifecycle is neither a leak nor reclaimed', async () => {
  await h.post('allocate', { subscriber_id: 'live' });
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 0);
  const result = await h.composed.cleanup();
  assert.equal([result.reclaimed, result.revoked], [0, 0], 'an allocation younger than stale_allocated_after_s stays');
  assert.is(h.ipam.allocations().length, 1);
});

test('an allocation never activated for longer than stale_allocated_after_s is revoked', async () => {
  const a = await h.post('allocate', { subscriber_id: 'stale' });
  const row = h.composed.store.get(a.body.lifecycle_id)!;
  h.composed.store.save({ ...row, allocated_at: new Date(Date.now() - 3_600_000).toISOString() }, null);
  await h.post('allocate', { subscriber_id: 'fresh' });
  const result = await h.composed.cleanup();
  assert.is(result.revoked, 1);
  assert.is((await h.composed.host.settle(a.body.lifecycle_id, 5000)).settled, true);
  assert.is((await h.get(`${BASE}/lifecycle/stale`)).body.state, 'revoked');
  assert.is((await h.get(`${BASE}/lifecycle/fresh`)).body.state, 'allocated');
  assert.equal(h.ipam.allocations().map((a) => a.subscriberId), ['fresh']);
});

test('an offline CPE leaves a pending step that the scheduler completes once the CPE is back', async () => {
  h.cpe.setOnline('00D09E-HG8245-0001', false);
  await h.post('allocate', { subscriber_id: 'cpe' });
  const active = await h.post('activate', { subscriber_id: 'cpe', username: 'u@isp', cpe_id: '00D09E-HG8245-0001' });
  assert.is(active.body.state, 'active');
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  assert.match((await h.get('/metrics')).text, /^ipv6_lifecycle_pending_lifecycles 1$/m);
  assert.ok(Date.parse(active.body.pending[0].next_attempt_at) > Date.now(), 'the first retry is scheduled');
  // Pretend the backoff elapsed: unload the actor and make the stored step due now.
  const makeDue = () => {
    h.composed.host.stopAll();
    const row = h.composed.store.get(active.body.lifecycle_id)!;
    const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
    h.composed.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  };
  makeDue();
  await h.composed.tickPending();
  const deferred = (await h.get(`${BASE}/lifecycle/cpe`)).body;
  assert.is(deferred.pending[0].attempts, 2);
  assert.ok(Date.parse(deferred.pending[0].next_attempt_at) > Date.now(), 'next attempt is in the future');
  makeDue();
  h.cpe.setOnline('00D09E-HG8245-0001', true);
  await h.composed.tickPending();
  const done = (await h.get(`${BASE}/lifecycle/cpe`)).body;
  assert.equal(done.pending, []);
  assert.match((await h.get('/metrics')).text, /^ipv6_lifecycle_pending_lifecycles 0$/m);
  assert.is(h.cpe.cpe('00D09E-HG8245-0001')?.prefix, done.prefix);
  const events = (await h.get(`${BASE}/lifecycle/cpe/events`)).body.events.map((e: { type: string }) => e.type);
  assert.ok(events.includes('PENDING_DEFERRED') && events.includes('PENDING_RESOLVED'), events.join(','));
});

test('two live lifecycles showing one prefix are reported (log, metric), and nothing is reclaimed for them', async () => {
  const a = await h.post('allocate', { subscriber_id: 'first' });
  const b = await h.post('allocate', { subscriber_id: 'second' });
  const row = h.composed.store.get(b.body.lifecycle_id)!;
  // The snapshot in full (version 1), so that it keeps the lifecycle's own prefix while the column shows the other's.
  h.composed.store.save({ ...row, prefix: a.body.prefix, snapshot: JSON.stringify(decodeSnapshot(row)) }, null);
  assert.match((await h.get('/metrics')).text, /^ipv6_lifecycle_shared_prefixes 1$/m);
  const result = await h.composed.cleanup();
  assert.is(result.reclaimed, 0);
  const logged = h.logs.filter((l) => l.msg === 'two live lifecycles show the same prefix').map((l) => l.lifecycle_id);
  assert.equal(logged.sort(), [a.body.lifecycle_id, b.body.lifecycle_id].sort());
});

test('a prefix under an unconfirmed attempt of its settled lifecycle is not released: its retry or revoke decides', async () => {
  // Both attempts take effect and lose their answer: the lifecycle fails with the attempt unconfirmed.
  h.ipam.failNext('allocate', { times: 2, afterEffect: true });
  const a = await h.post('allocate', { subscriber_id: 'unconfirmed' });
  const id = (await h.get(`${BASE}/lifecycle/unconfirmed`)).body.lifecycle_id;
  assert.is((await h.get(`${BASE}/lifecycle/unconfirmed`)).body.state, 'failed', JSON.stringify(a.body));
  const held = h.ipam.allocations();
  assert.equal(held.map((x) => x.key), [stepKey(id, 'allocate', 0)]);
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 0);
  const result = await h.composed.cleanup();
  assert.is(result.reclaimed, 0);
  assert.equal(h.ipam.allocations(), held);
  // The retry finds it under its key: releasing it would have taken the subscriber's prefix.
  const retried = await h.post('retry', { subscriber_id: 'unconfirmed' });
  assert.equal([retried.body.state, retried.body.prefix], ['allocated', held[0]!.prefix]);
});

test('a prefix under a key its settled live lifecycle does not hold is a leak and is freed; its unconfirmed attempt stays', async () => {
  h.ipam.failNext('allocate', { times: 2, afterEffect: true });
  await h.post('allocate', { subscriber_id: 'failed' });
  const failed = (await h.get(`${BASE}/lifecycle/failed`)).body;
  const live = (await h.post('allocate', { subscriber_id: 'live' })).body;
  assert.is(failed.state, 'failed');
  // What a POST committed after its client gave up leaves: a block under the lifecycle's mark and another key.
  const stray = (key: string, lifecycleId: string, subscriberId: string) =>
    h.ipam.allocate({ key, lifecycleId, subscriberId, pool: 'residential', prefixLength: 56 });
  const extraFailed = await stray(`${failed.lifecycle_id}:stale`, failed.lifecycle_id, 'failed');
  const extraLive = await stray(`${live.lifecycle_id}:stale`, live.lifecycle_id, 'live');
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 2);
  const result = await h.composed.cleanup();
  assert.is(result.reclaimed, 2);
  const left = h.ipam.allocations().map((x) => x.prefix);
  assert.ok(!left.includes(extraFailed.prefix) && !left.includes(extraLive.prefix), left.join(' '));
  assert.equal(left.sort(), [live.prefix, h.ipam.allocations().find((x) => x.key === stepKey(failed.lifecycle_id, 'allocate', 0))!.prefix].sort());
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 0);
  assert.is((await h.get(`${BASE}/lifecycle/live`)).body.prefix, live.prefix);
});

test.run();
