// A client that got a 202 polls `Location`: the lifecycle alone read `allocated` while an activation
// ran and `active` while an update ran (or while an update resumed after a restart rolled back), so
// nothing said when the work was done. Every lifecycle answer now carries `in_progress`: the
// operation whose outside work is still running, null once it has settled.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, gatedCpe, gatedIpam, pollUntil, startHarness, type Harness } from '../http/support.ts';

const test = suite('review14 api in_progress');
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

const LIFECYCLE = `${BASE}/lifecycle/ip-1`;
const done = (b: any) => b.in_progress === null;

test('GET says which operation runs until it has settled, then null', async () => {
  ipam.close();
  const a = await h.request('POST', `${BASE}/allocate?wait=20`, { json: { subscriber_id: 'ip-1' } });
  assert.is(a.status, 202, a.text);
  assert.is(a.body.in_progress, 'allocate');
  assert.is((await h.get(LIFECYCLE)).body.in_progress, 'allocate');
  ipam.open();
  assert.is((await pollUntil(h, LIFECYCLE, done)).body.state, 'allocated');

  cpe.close();
  const b = await h.request('POST', `${BASE}/activate?wait=20`, { json: { subscriber_id: 'ip-1', username: 'ip1@example.net', cpe_id: 'ABC-HG-IP1' } });
  assert.is(b.status, 202, b.text);
  const during = (await h.get(LIFECYCLE)).body;
  assert.is(during.state, 'allocated');
  assert.is(during.in_progress, 'activate');
  cpe.open();
  assert.is((await pollUntil(h, LIFECYCLE, done)).body.state, 'active');

  ipam.close();
  const c = await h.request('POST', `${BASE}/update?wait=20`, { json: { subscriber_id: 'ip-1', prefix_length: 60 } });
  assert.is(c.status, 202, c.text);
  const updating = (await h.get(LIFECYCLE)).body;
  assert.is(updating.state, 'active');
  assert.is(updating.in_progress, 'update');
  assert.is(updating.prefix_length, 56);
  ipam.open();
  const updated = (await pollUntil(h, LIFECYCLE, done)).body;
  assert.is(updated.state, 'active');
  assert.is(updated.prefix_length, 60, 'null once the update has run to its end');

  ipam.close();
  const d = await h.request('POST', `${BASE}/revoke?wait=20`, { json: { subscriber_id: 'ip-1' } });
  assert.is(d.status, 202, d.text);
  assert.is((await h.get(LIFECYCLE)).body.in_progress, 'revoke');
  ipam.open();
  assert.is((await pollUntil(h, LIFECYCLE, done)).body.state, 'revoked');
});

test('settled answers, list items and the document carry it as null', async () => {
  const a = await h.post('allocate', { subscriber_id: 'ip-2' });
  assert.is(a.status, 201, a.text);
  assert.is(a.body.in_progress, null);
  const list = await h.get(`${BASE}/lifecycle?limit=5`);
  assert.ok(list.body.items.length > 0);
  for (const item of list.body.items) assert.is(item.in_progress, null, item.subscriber_id);
  const doc = (await h.get('/openapi.json')).body;
  const lifecycle = doc.components.schemas.Lifecycle;
  assert.ok(lifecycle.required.includes('in_progress'));
  const kinds = lifecycle.properties.in_progress.anyOf ?? lifecycle.properties.in_progress.oneOf ?? [lifecycle.properties.in_progress];
  assert.ok(kinds.some((k: any) => k.enum?.includes('update')), JSON.stringify(lifecycle.properties.in_progress));
  assert.not.ok(kinds.some((k: any) => k.enum?.includes('retry')), 'a retry runs as the step it resumes');
});

test.run();
