// An update whose new allocation IPAM refuses (a 4xx: no retry cures it) rolls back and keeps the old
// prefix, as API.md says. Its answer named it `upstream_unavailable` "update rolled back …" for every
// refusal but pool_exhausted and not_found, so an orchestrator took a refusal for an outage and sent
// the update again and again. A refusal is now `upstream_rejected` with the code that refused; an
// outage stays `upstream_unavailable`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('review11: an update rolled back by a refusal says it was refused');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(() => h.close());

const active = async (id: string) => {
  assert.is((await h.post('allocate', { subscriber_id: id })).status, 201);
  assert.is((await h.post('activate', { subscriber_id: id, username: `${id}@example.net` })).status, 200);
  return (await h.get(`/api/v1/network/ipv6/lifecycle/${id}`)).body.prefix as string;
};

test('IPAM refusing the new block (validation_error) → 502 upstream_rejected naming the refusal; the old prefix kept', async () => {
  const old = await active('u1');
  h.ipam.failNext('allocate', { error: () => new ServiceError('validation_error', 'fake ipam: the pool refuses this length', { field: 'prefix_length' }), times: 5 });
  const r = await h.post('update', { subscriber_id: 'u1', prefix_length: 48 });
  assert.equal([r.status, r.body.error?.code], [502, 'upstream_rejected'], r.text);
  assert.match(r.body.error.message, /^update rolled back at \S+ \(validation_error\): fake ipam: the pool refuses this length; the subscriber keeps /);
  const l = (await h.get('/api/v1/network/ipv6/lifecycle/u1')).body;
  assert.equal([l.state, l.prefix], ['active', old]);
});

test('IPAM down for the new block → still 502 upstream_unavailable, the old prefix kept', async () => {
  const old = await active('u2');
  h.ipam.failNext('allocate', { error: () => new ServiceError('upstream_unavailable', 'fake ipam: down', { retryable: true }), times: 50 });
  const r = await h.post('update', { subscriber_id: 'u2', prefix_length: 48 });
  assert.equal([r.status, r.body.error?.code], [502, 'upstream_unavailable'], r.text);
  assert.match(r.body.error.message, /^update rolled back at \S+ \(upstream_unavailable\): fake ipam: down; the subscriber keeps /);
  assert.is((await h.get('/api/v1/network/ipv6/lifecycle/u2')).body.prefix, old);
});

test.run();
