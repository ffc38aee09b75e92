// The key's hash leaves `?wait=` out (docs/api.md), so a 400 that refused the wait, once stored, was the
// answer to the same request with its wait fixed: "wait: must be a non-negative decimal integer" for a
// request with no wait at all, for as long as the key lived. Found by test/review11/fuzz-api.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('a refused ?wait= is not the key’s answer');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

const keyed = (key: string, query: string, json: unknown) =>
  h.request('POST', `${BASE}/allocate${query}`, { json, headers: { 'idempotency-key': key } });

for (const bad of ['abc', '1.5', '-1', '60001', '1e3']) {
  test(`POST /allocate?wait=${bad} (400), then the same key without the bad wait → 201, then replayed`, async () => {
    const body = { subscriber_id: `wk-${bad}` };
    const refused = await keyed(`K-${bad}`, `?wait=${bad}`, body);
    assert.is(refused.status, 400, refused.text);
    assert.is(refused.body.error.field, 'wait');
    const fixed = await keyed(`K-${bad}`, '', body);
    assert.is(fixed.status, 201, fixed.text);
    assert.is(fixed.headers.get('idempotent-replayed'), null);
    assert.is(fixed.body.state, 'allocated');
    const replay = await keyed(`K-${bad}`, '?wait=100', body);
    assert.is(replay.status, 201, replay.text);
    assert.is(replay.headers.get('idempotent-replayed'), 'true');
    assert.is(replay.body.lifecycle_id, fixed.body.lifecycle_id);
  });
}

test('POST /allocate?wait=5000&wait=5000 (400, repeated), then once → 201', async () => {
  const body = { subscriber_id: 'wk-twice' };
  const refused = await keyed('K-twice', '?wait=5000&wait=5000', body);
  assert.is(refused.status, 400, refused.text);
  assert.is(refused.body.error.field, 'wait');
  // A wait long enough for a loaded machine: 5 ms answered 202 on CI with the allocation still running.
  assert.is((await keyed('K-twice', '?wait=5000', body)).status, 201);
});

test('a refused body is still the key’s answer: the fixed body with the same key is 422', async () => {
  assert.is((await keyed('K-body', '', { subscriber_id: 5 })).status, 400);
  const again = await keyed('K-body', '', { subscriber_id: 'wk-body' });
  assert.is(again.status, 422, again.text);
});

test.run();
