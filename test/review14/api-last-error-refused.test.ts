// A POST /allocate that IPAM refuses for certain (409 pool_exhausted) leaves a lifecycle closed at
// once, `revoked` with `prefix: null`, whose `last_error` says why (machines/context.ts,
// closedRefused). The document and docs/api.md described `last_error` only as "why the last update
// was rolled back; the lifecycle stayed active", which this lifecycle is neither.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review14: last_error of a refused allocation, as the document describes it');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

test('POST /allocate on an exhausted pool: the closed lifecycle carries last_error, and the document says so', async () => {
  for (const id of ['tiny-1', 'tiny-2']) assert.is((await h.post('allocate', { subscriber_id: id, pool: 'tiny' })).status, 201);
  const refused = await h.post('allocate', { subscriber_id: 'tiny-3', pool: 'tiny' });
  assert.is(refused.status, 409);
  assert.is(refused.body.error.code, 'pool_exhausted');
  const got = (await h.get(`${BASE}/lifecycle/tiny-3`)).body;
  assert.is(got.state, 'revoked');
  assert.is(got.prefix, null);
  assert.is(got.failure, null);
  assert.is(got.last_error.code, 'pool_exhausted');
  const doc = (await h.get('/openapi.json', { token: null })).body;
  const described: string = doc.components.schemas.Lifecycle.properties.last_error.description;
  assert.match(described, /update was rolled back/);
  assert.match(described, /refused the allocation/, `last_error: ${described}`);
});

test.run();
