// The resource's timestamps mean one thing each, through suspend → reactivate and update:
// activated_at is the first activation, reactivated_at the last resume, suspended_at the last suspension.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http lifecycle timestamps');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const tick = () => new Promise((r) => setTimeout(r, 5));

test('activated_at stays the first activation; reactivated_at is the last resume', async () => {
  await h.post('allocate', { subscriber_id: 'ts-1' });
  const activated = (await h.post('activate', { subscriber_id: 'ts-1', username: 'ts@example.net' })).body;
  assert.ok(activated.activated_at);
  assert.is(activated.reactivated_at, null, 'never resumed yet');
  const first = activated.activated_at;

  await tick();
  const suspended = (await h.post('suspend', { subscriber_id: 'ts-1' })).body;
  assert.ok(suspended.suspended_at > first);
  await tick();
  const resumed = (await h.post('reactivate', { subscriber_id: 'ts-1' })).body;
  assert.is(resumed.state, 'active');
  assert.is(resumed.activated_at, first, 'activated_at is the first activation');
  assert.ok(resumed.reactivated_at > suspended.suspended_at, 'reactivated_at is the resume');
  assert.is(resumed.suspended_at, suspended.suspended_at, 'suspended_at stays the last suspension');

  await tick();
  await h.post('suspend', { subscriber_id: 'ts-1' });
  await tick();
  const again = (await h.post('reactivate', { subscriber_id: 'ts-1' })).body;
  assert.ok(again.reactivated_at > resumed.reactivated_at, 'the last resume');
  assert.is(again.activated_at, first);

  await tick();
  const updated = (await h.post('update', { subscriber_id: 'ts-1', prefix_length: 60 })).body;
  assert.is(updated.prefix_length, 60);
  assert.is(updated.activated_at, first, 'an update does not reset activated_at');
  assert.equal((await h.get(`${BASE}/lifecycle/ts-1`)).body.activated_at, first);
});

test('the document says what each timestamp is', async () => {
  const doc = (await h.get('/openapi.json')).body;
  const props = doc.components.schemas.Lifecycle.properties;
  const description = (p: any) => [p.description, ...(p.anyOf ?? []).map((x: any) => x.description)].filter(Boolean).join(' ');
  assert.match(description(props.activated_at), /first/);
  assert.match(description(props.reactivated_at), /last/);
  assert.match(description(props.suspended_at), /last/);
});

test.run();
