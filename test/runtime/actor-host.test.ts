import { setTimeout as sleep } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('ActorHost');
let h: Harness;

test.before.each(async () => {
  h = await startHarness({ config: { runtime: { idle_ms: 100 } } });
});
test.after.each(async () => {
  await h.close();
});

test('settled actors are unloaded after idle_ms; the store keeps them and they come back on demand', async () => {
  for (const s of ['a', 'b', 'c']) await h.post('allocate', { subscriber_id: s });
  assert.is(h.composed.host.size, 3);
  await sleep(300);
  assert.is(h.composed.host.size, 0);
  const again = await h.post('activate', { subscriber_id: 'b', username: 'b@isp' });
  assert.is(again.body.state, 'active');
  assert.is(h.composed.host.size, 1);
});

test('an operation refused as invalid_transition does not keep its actor in memory', async () => {
  await h.post('allocate', { subscriber_id: 'r' });
  await sleep(300);
  assert.is(h.composed.host.size, 0);
  const refused = await h.post('suspend', { subscriber_id: 'r' });
  assert.is(refused.status, 409);
  assert.is(h.composed.host.size, 1, 'hydrated to check the transition');
  await sleep(300);
  assert.is(h.composed.host.size, 0);
});

test.run();
