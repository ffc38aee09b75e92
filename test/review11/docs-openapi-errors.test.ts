// GET /openapi.json describes each error status of an operation. An update rolled back by a peer's
// refusal answers 502 upstream_rejected (test/review11/failed-update-rollback), but the document's
// 502 said upstream_rejected was only "a read, an import or a job (an operation's refusal is a
// 409)": a client generated from it took that 502 for something else. Each answer below is read
// next to the description the document gives for its operation and status; and the username an
// activate refuses with RADIUS configured (rlm_sql's escaped form) next to the body's description.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { FakeRadiusReplyStore } from '../../services/radius/fake.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review11: /openapi.json describes the error answers the operations give');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(() => h.close());

const described = async (op: string, status: number): Promise<string> => {
  const doc = (await h.get('/openapi.json')).body;
  return doc.paths[`${BASE}/${op}`].post.responses[String(status)]?.description ?? '';
};
const active = async (id: string) => {
  assert.is((await h.post('allocate', { subscriber_id: id })).status, 201);
  assert.is((await h.post('activate', { subscriber_id: id, username: `${id}@example.net` })).status, 200);
};

test('an update rolled back by a refusal: 502 upstream_rejected, described as such for POST /update', async () => {
  await active('u1');
  h.ipam.failNext('allocate', { error: () => new ServiceError('validation_error', 'fake ipam: refused', { field: 'prefix_length' }), times: 5 });
  const r = await h.post('update', { subscriber_id: 'u1', prefix_length: 48 });
  assert.equal([r.status, r.body.error?.code], [502, 'upstream_rejected'], r.text);
  assert.match(r.body.error.message, /^update rolled back at /);
  const text = await described('update', 502);
  assert.match(text, /; `upstream_rejected`: [^;]*refused an update's step and the update was rolled back/);
  assert.not.match(text, "an operation's refusal is a 409");
});

test('an update rolled back by an outage: 502 upstream_unavailable, the subscriber still active, as described', async () => {
  await active('u2');
  h.ipam.failNext('allocate', { error: () => new ServiceError('upstream_unavailable', 'fake ipam: down', { retryable: true }), times: 50 });
  const r = await h.post('update', { subscriber_id: 'u2', prefix_length: 48 });
  assert.equal([r.status, r.body.error?.code], [502, 'upstream_unavailable'], r.text);
  assert.is((await h.get(`${BASE}/lifecycle/u2`)).body.state, 'active');
  assert.match(await described('update', 502), /^`upstream_unavailable`: .*update rolled back.*keeps the subscriber `active`.*; `upstream_rejected`: /);
});

test('a revocation failed for good: 409 upstream_rejected, described under 409 of POST /revoke', async () => {
  await active('r1');
  h.ipam.failNext('release', { error: () => new ServiceError('validation_error', 'fake ipam: not yours', { field: 'key' }), times: 2 });
  const r = await h.post('revoke', { subscriber_id: 'r1' });
  assert.equal([r.status, r.body.error?.code], [409, 'upstream_rejected'], r.text);
  assert.match(await described('revoke', 409), /`upstream_rejected` \(an operation whose lifecycle failed for good/);
});

test('with RADIUS, an activate whose username rlm_sql looks up escaped is 400; the body\'s username says which form to give', async () => {
  await h.close();
  h = await startHarness({ replies: new FakeRadiusReplyStore() });
  assert.is((await h.post('allocate', { subscriber_id: 'e1' })).status, 201);
  const r = await h.post('activate', { subscriber_id: 'e1', username: 'joe+tag@isp' });
  assert.equal([r.status, r.body.error?.field], [400, 'username'], r.text);
  assert.match(r.body.error.message, '"joe=2Btag@isp"');
  assert.is((await h.post('activate', { subscriber_id: 'e1', username: 'joe=2Btag@isp' })).status, 200);
  const doc = (await h.get('/openapi.json')).body;
  const body = doc.paths[`${BASE}/activate`].post.requestBody.content['application/json'].schema;
  const username = (body.properties ?? doc.components.schemas[body.$ref.split('/').at(-1)].properties).username;
  assert.match(username.description, /with RADIUS configured, one holding a character outside its safe_characters is 400 naming the escaped form to give \(`joe=2Btag@isp` for joe\+tag@isp\)/);
});

test.run();
