import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { BASE, gatedIpam, pollUntil, startHarness, type Harness } from './support.ts';

const test = suite('http operations');
let h: Harness;
test.after.each(async () => {
  await h?.close();
});
const start = async (opts?: Parameters<typeof startHarness>[0]) => (h = await startHarness(opts));
const allocations = () => h.ipam.allocations().map((a) => `${a.subscriberId} ${a.prefix}`);
const ipamCalls = (method: string) => h.ipam.calls.filter((c) => c.method === method).length;

test('POST /allocate → 201 allocated, with Location', async () => {
  await start();
  const r = await h.post('allocate', { subscriber_id: 'sub-1' });
  assert.is(r.status, 201);
  assert.is(r.headers.get('location'), `${BASE}/lifecycle/sub-1`);
  assert.is(r.body.state, 'allocated');
  assert.is(r.body.subscriber_id, 'sub-1');
  assert.is(r.body.pool, 'residential');
  assert.is(r.body.prefix_length, 56);
  assert.is(r.body.prefix, '2001:db8::/56');
  assert.ok(r.body.allocated_at);
  assert.equal(allocations(), ['sub-1 2001:db8::/56']);
});

test('POST /allocate {pool, prefix_length} → 201 from that pool at that length', async () => {
  await start();
  const r = await h.post('allocate', { subscriber_id: 'sub-1', pool: 'business', prefix_length: 52 });
  assert.is(r.status, 201);
  assert.is(r.body.pool, 'business');
  assert.is(r.body.prefix, '2001:db8:1000::/52');
});

test('POST /allocate for a subscriber with a live lifecycle → 200 with the same prefix', async () => {
  await start();
  const first = await h.post('allocate', { subscriber_id: 'sub-1' });
  const again = await h.post('allocate', { subscriber_id: 'sub-1' });
  assert.is(again.status, 200);
  assert.is(again.headers.get('location'), null);
  assert.is(again.body.lifecycle_id, first.body.lifecycle_id);
  assert.is(again.body.prefix, first.body.prefix);
  assert.is(ipamCalls('allocate'), 1);
});

test('POST /allocate, /activate, /suspend, /reactivate, /update, /revoke → the full flow', async () => {
  await start();
  const allocated = await h.post('allocate', { subscriber_id: 'sub-1' });
  assert.is(allocated.status, 201);
  const oldPrefix = allocated.body.prefix;

  const active = await h.post('activate', { subscriber_id: 'sub-1', username: 'alice@example.net', cpe_id: '00D09E-HG8245-0123456' });
  assert.is(active.status, 200);
  assert.is(active.body.state, 'active');
  assert.is(active.body.username, 'alice@example.net');
  assert.is(active.body.cpe_id, '00D09E-HG8245-0123456');
  assert.ok(active.body.activated_at);
  assert.is(h.cpe.cpe('00D09E-HG8245-0123456')?.prefix, oldPrefix);

  const suspended = await h.post('suspend', { subscriber_id: 'sub-1', reason: 'unpaid' });
  assert.is(suspended.status, 200);
  assert.is(suspended.body.state, 'suspended');
  assert.ok(suspended.body.suspended_at);
  assert.is(suspended.body.prefix, oldPrefix, 'the prefix stays reserved');
  assert.equal(allocations(), [`sub-1 ${oldPrefix}`]);

  const reactivated = await h.post('reactivate', { subscriber_id: 'sub-1' });
  assert.is(reactivated.status, 200);
  assert.is(reactivated.body.state, 'active');
  assert.is(reactivated.body.prefix, oldPrefix);

  const updated = await h.post('update', { subscriber_id: 'sub-1', pool: 'business' });
  assert.is(updated.status, 200);
  assert.is(updated.body.state, 'active');
  assert.is(updated.body.pool, 'business');
  assert.is(updated.body.prefix_length, 48);
  assert.is.not(updated.body.prefix, oldPrefix);
  assert.equal(allocations(), [`sub-1 ${updated.body.prefix}`], 'the old prefix is released');
  assert.is(h.cpe.cpe('00D09E-HG8245-0123456')?.prefix, updated.body.prefix);

  const revoked = await h.post('revoke', { subscriber_id: 'sub-1', reason: 'contract ended' });
  assert.is(revoked.status, 200);
  assert.is(revoked.body.state, 'revoked');
  assert.ok(revoked.body.revoked_at);
  assert.equal(allocations(), []);
  assert.is(h.cpe.cpe('00D09E-HG8245-0123456')?.prefix, null);

  const after = await h.get(`${BASE}/lifecycle/sub-1`);
  assert.is(after.body.state, 'revoked');
});

test('POST /revoke of a revoked lifecycle → 200 with it, nothing released again', async () => {
  await start();
  await h.post('allocate', { subscriber_id: 'sub-1' });
  const first = await h.post('revoke', { subscriber_id: 'sub-1' });
  const releases = ipamCalls('release');
  const again = await h.post('revoke', { subscriber_id: 'sub-1' });
  assert.is(again.status, 200);
  assert.is(again.body.state, 'revoked');
  assert.is(again.body.lifecycle_id, first.body.lifecycle_id);
  assert.is(ipamCalls('release'), releases);
});

test('POST /suspend on an allocated prefix → 409 invalid_transition, state unchanged', async () => {
  await start();
  const allocated = await h.post('allocate', { subscriber_id: 'sub-1' });
  const r = await h.post('suspend', { subscriber_id: 'sub-1' });
  assert.is(r.status, 409);
  assert.equal(r.body, { error: { code: 'invalid_transition', message: 'cannot suspend a prefix in state allocated', field: null } });
  const after = await h.get(`${BASE}/lifecycle/sub-1`);
  assert.is(after.body.state, 'allocated');
  assert.is(after.body.updated_at, allocated.body.updated_at);
});

test('POST /reactivate after revocation → 409 invalid_transition', async () => {
  await start();
  await h.post('allocate', { subscriber_id: 'sub-1' });
  await h.post('revoke', { subscriber_id: 'sub-1' });
  const r = await h.post('reactivate', { subscriber_id: 'sub-1' });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'invalid_transition');
});

test('POST /allocate from an exhausted pool → 409 pool_exhausted', async () => {
  await start();
  assert.is((await h.post('allocate', { subscriber_id: 'a', pool: 'tiny' })).status, 201);
  assert.is((await h.post('allocate', { subscriber_id: 'b', pool: 'tiny' })).status, 201);
  const r = await h.post('allocate', { subscriber_id: 'c', pool: 'tiny' });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'pool_exhausted');
  assert.is(r.body.error.field, null);
  assert.equal(allocations().length, 2);
});

test('POST /allocate {pool: unknown} → 404 not_found naming pool', async () => {
  await start();
  const r = await h.post('allocate', { subscriber_id: 'sub-1', pool: 'nowhere' });
  assert.is(r.status, 404);
  assert.equal(r.body, { error: { code: 'not_found', message: 'unknown pool nowhere', field: 'pool' } });
  assert.is((await h.get(`${BASE}/lifecycle/sub-1`)).status, 404, 'nothing was created');
});

test('POST /allocate {prefix_length: 32} → 400 naming prefix_length (outside the pool)', async () => {
  await start();
  const r = await h.post('allocate', { subscriber_id: 'sub-1', prefix_length: 32 });
  assert.is(r.status, 400);
  assert.is(r.body.error.code, 'validation_error');
  assert.is(r.body.error.field, 'prefix_length');
  assert.match(r.body.error.message, 'prefix_length');
});

test('POST /activate for an unknown subscriber → 404 not_found', async () => {
  await start();
  const r = await h.post('activate', { subscriber_id: 'ghost', username: 'ghost@example.net' });
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'not_found');
  assert.is(r.body.error.field, 'subscriber_id');
});

test('POST /allocate?wait=0 with a slow IPAM → 202 pending with Location, later allocated', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  await start({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  gate.g!.close();
  const r = await h.request('POST', `${BASE}/allocate?wait=0`, { json: { subscriber_id: 'sub-1' } });
  assert.is(r.status, 202);
  assert.is(r.body.state, 'pending');
  assert.is(r.body.prefix, null);
  const location = r.headers.get('location');
  assert.is(location, `${BASE}/lifecycle/sub-1`);
  gate.g!.open();
  const polled = await pollState(location!, 'allocated');
  assert.is(polled.body.prefix, '2001:db8::/56');
});

test('POST /update?wait=0 with a slow IPAM → 202 active (busy), later the new prefix', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  await start({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  await h.post('allocate', { subscriber_id: 'sub-1' });
  const active = await h.post('activate', { subscriber_id: 'sub-1', username: 'alice' });
  gate.g!.close();
  const r = await h.request('POST', `${BASE}/update?wait=0`, { json: { subscriber_id: 'sub-1', prefix_length: 60 } });
  assert.is(r.status, 202);
  assert.is(r.headers.get('location'), `${BASE}/lifecycle/sub-1`);
  assert.is(r.body.prefix, active.body.prefix, 'still the old prefix while the new one is allocated');
  gate.g!.open();
  const polled = await pollUntil(h, r.headers.get('location')!, (b) => b.prefix_length === 60);
  assert.is(polled.body.state, 'active');
  assert.is.not(polled.body.prefix, active.body.prefix);
});

test('POST /activate after a 202 allocate → waits for the allocation, then 200 active (serialized past ?wait)', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  await start({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  gate.g!.close();
  assert.is((await h.request('POST', `${BASE}/allocate?wait=0`, { json: { subscriber_id: 'sub-1' } })).status, 202);
  const activating = h.post('activate', { subscriber_id: 'sub-1', username: 'alice' });
  setTimeout(() => gate.g!.open(), 50);
  const r = await activating;
  assert.equal([r.status, r.body.state], [200, 'active']);
});

test('POST /revoke twice while the first is still running → the second answers with it, never 409', async () => {
  const gate = { g: null as ReturnType<typeof gatedIpam> | null };
  await start({ wrapIpam: (fake) => (gate.g = gatedIpam(fake)).port });
  await h.post('allocate', { subscriber_id: 'sub-1' });
  gate.g!.close();
  const first = await h.request('POST', `${BASE}/revoke?wait=0`, { json: { subscriber_id: 'sub-1' } });
  assert.equal([first.status, first.body.state], [202, 'revoking']);
  const again = await h.request('POST', `${BASE}/revoke?wait=0`, { json: { subscriber_id: 'sub-1' } });
  assert.equal([again.status, again.body.state], [202, 'revoking'], 'a retried deprovisioning is not refused');
  setTimeout(() => gate.g!.open(), 50);
  const third = await h.post('revoke', { subscriber_id: 'sub-1' });
  assert.equal([third.status, third.body.state], [200, 'revoked'], 'waits for the running revocation, then answers with it');
  assert.equal(h.ipam.allocations(), []);
});

test('POST /update while the ACS is down → 502, rolled back: still active on the old prefix, new one released', async () => {
  await start();
  await h.post('allocate', { subscriber_id: 'sub-1' });
  const active = await h.post('activate', { subscriber_id: 'sub-1', username: 'alice', cpe_id: 'OUI-PC-SN' });
  const down = () => new ServiceError('upstream_unavailable', 'ACS unreachable', { retryable: true });
  h.cpe.failNext('configurePd', { error: down, times: 2 });
  const r = await h.post('update', { subscriber_id: 'sub-1', pool: 'business' });
  assert.is(r.status, 502);
  assert.is(r.body.error.code, 'upstream_unavailable');
  assert.match(r.body.error.message, `the subscriber keeps ${active.body.prefix}`);
  const after = await h.get(`${BASE}/lifecycle/sub-1`);
  assert.is(after.body.state, 'active');
  assert.is(after.body.prefix, active.body.prefix);
  assert.is(after.body.last_error.step, 'cpe_configure_pd');
  assert.equal(allocations(), [`sub-1 ${active.body.prefix}`]);
});

test('POST /retry on a failed lifecycle → 200, resumed at the failed step', async () => {
  await start();
  h.ipam.failNext('allocate', { times: 2 });
  const failed = await h.post('allocate', { subscriber_id: 'sub-1' });
  assert.is(failed.status, 502);
  assert.is(failed.body.error.code, 'upstream_unavailable');
  assert.match(failed.body.error.message, 'POST /retry resumes it');
  const seen = await h.get(`${BASE}/lifecycle/sub-1`);
  assert.is(seen.body.state, 'failed');
  assert.is(seen.body.failure.code, 'upstream_unavailable');
  assert.is(seen.body.failure.attempts, 2);

  const r = await h.post('retry', { subscriber_id: 'sub-1' });
  assert.is(r.status, 200);
  assert.is(r.body.state, 'allocated');
  assert.is(r.body.failure, null);
  assert.equal(allocations(), ['sub-1 2001:db8::/56']);
});

test('POST /retry on an active lifecycle → 409 invalid_transition', async () => {
  await start();
  await h.post('allocate', { subscriber_id: 'sub-1' });
  await h.post('activate', { subscriber_id: 'sub-1', username: 'alice' });
  const r = await h.post('retry', { subscriber_id: 'sub-1' });
  assert.is(r.status, 409);
  assert.equal(r.body.error, { code: 'invalid_transition', message: 'cannot retry a prefix in state active', field: null });
});

const pollState = (location: string, state: string) => pollUntil(h, location, (b) => b.state === state);

test.run();
