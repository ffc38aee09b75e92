// Review of 934c61b: the leak reclaim was to leave only a prefix under the allocation key of a
// generation its lifecycle has not reached (a store restored from an older backup). It left every
// key but the lifecycle's own allocation keys instead: a leak under any other key (a hand edit, an
// old bug, what test/runtime/cleanup.test.ts plants) was found and counted but never given back.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stepKey } from '../../machines/steps.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review12: the leak reclaim and the keys a leak may carry');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

test('a revoked lifecycle\'s leaks: under another key freed, under a later generation\'s allocation key left', async () => {
  await h.post('allocate', { subscriber_id: 'leaky' });
  const revoked = (await h.post('revoke', { subscriber_id: 'leaky' })).body;
  assert.is(revoked.state, 'revoked');
  const id = revoked.lifecycle_id as string;
  const stray = (key: string) => h.ipam.allocate({ key, lifecycleId: id, subscriberId: 'leaky', pool: 'residential', prefixLength: 56 });
  await stray(`${id}:by-hand`);
  const later = await stray(stepKey(id, 'allocate', 5));
  assert.is((await h.get(`${BASE}/metrics`)).body.leaks, 2);
  const result = await h.composed.cleanup();
  assert.is(result.reclaimed, 1);
  assert.equal(h.ipam.allocations().map((a) => [a.key, a.prefix]), [[stepKey(id, 'allocate', 5), later.prefix]]);
});

test.run();
