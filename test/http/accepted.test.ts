// A 202 says which operation it accepted: the lifecycle alone reads `allocated` while an activation
// runs, or `active` while an update runs, and does not tell the client what it is waiting for.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, gatedCpe, gatedIpam, pollUntil, startHarness, type Harness } from './support.ts';

const test = suite('http 202 body');
let h: Harness;
let ipam: ReturnType<typeof gatedIpam>;
let cpe: ReturnType<typeof gatedCpe>;
test.before(async () => {
  h = await startHarness({ wrapIpam: (f) => (ipam = gatedIpam(f)).port, wrapCpe: (p) => (cpe = gatedCpe(p)).port });
});
test.after(async () => {
  ipam.open();
  cpe.open();
  await h.close();
});

const settled = (b: any) => b.state === 'active' || b.state === 'allocated';

test('allocate, activate and update answering 202 name the operation; the lifecycle is as it is', async () => {
  ipam.close();
  const a = await h.request('POST', `${BASE}/allocate?wait=20`, { json: { subscriber_id: 'op-1' } });
  assert.is(a.status, 202, a.text);
  assert.is(a.body.operation, 'allocate');
  assert.is(a.body.state, 'pending');
  assert.is(a.body.subscriber_id, 'op-1');
  ipam.open();
  await pollUntil(h, `${BASE}/lifecycle/op-1`, (b) => b.state === 'allocated');

  cpe.close();
  const b = await h.request('POST', `${BASE}/activate?wait=20`, { json: { subscriber_id: 'op-1', username: 'u@example.net', cpe_id: 'ABC-HG-1' } });
  assert.is(b.status, 202, b.text);
  assert.is(b.body.state, 'allocated', 'the state alone does not say an activation runs');
  assert.is(b.body.operation, 'activate');
  cpe.open();
  await pollUntil(h, `${BASE}/lifecycle/op-1`, (x) => x.state === 'active');

  ipam.close();
  const c = await h.request('POST', `${BASE}/update?wait=20`, { json: { subscriber_id: 'op-1', prefix_length: 60 } });
  assert.is(c.status, 202, c.text);
  assert.is(c.body.state, 'active');
  assert.is(c.body.operation, 'update');
  ipam.open();
  await pollUntil(h, `${BASE}/lifecycle/op-1`, (x) => settled(x) && x.prefix_length === 60);
});

test('a settled answer is the lifecycle alone', async () => {
  const r = await h.post('suspend', { subscriber_id: 'op-1' });
  assert.is(r.status, 200, r.text);
  assert.not.ok('operation' in r.body);
  const g = await h.get(`${BASE}/lifecycle/op-1`);
  assert.not.ok('operation' in g.body);
});

test('the document declares the 202 body with its operation', async () => {
  const doc = (await h.get('/openapi.json')).body;
  const schema = doc.paths[`${BASE}/activate`].post.responses['202'].content['application/json'].schema;
  const resolved = schema.$ref ? schema.$ref.split('/').slice(1).reduce((n: any, k: string) => n[k], doc) : schema;
  assert.ok(resolved.required.includes('operation'));
  assert.ok(resolved.properties.operation.enum.includes('activate'));
});

test.run();
