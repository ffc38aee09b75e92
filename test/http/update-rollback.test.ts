// Issue 8, invariant 5: an update that fails rolls back without needing the peer that failed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http update rollback');
let h: Harness;
test.after.each(async () => {
  await h?.close();
});
const allocations = () => h.ipam.allocations().map((a) => `${a.subscriberId} ${a.prefix}`);
const ipamCalls = (method: string) => h.ipam.calls.filter((c) => c.method === method).length;

async function activeSubscriber(cpeId: string | null) {
  await h.post('allocate', { subscriber_id: 'sub-1' });
  const active = await h.post('activate', { subscriber_id: 'sub-1', username: 'alice', ...(cpeId ? { cpe_id: cpeId } : {}) });
  assert.is(active.body.state, 'active');
  return active.body;
}

test('POST /update with the ACS answering 500 throughout → active on the old prefix, IPAM holds only it, the CPE restore is pending', async () => {
  h = await startHarness();
  const before = await activeSubscriber('OUI-PC-SN');
  // Every CPE call fails from here on: the forward configure, and the restore the rollback tries.
  const acs500 = () => new ServiceError('upstream_unavailable', 'ACS answered 500', { retryable: true });
  h.cpe.failNext('configurePd', { error: acs500, times: 50 });
  const r = await h.post('update', { subscriber_id: 'sub-1', pool: 'business' });
  assert.is(r.status, 502);
  assert.match(r.body.error.message, `the subscriber keeps ${before.prefix}`);
  const after = (await h.get(`${BASE}/lifecycle/sub-1`)).body;
  assert.is(after.state, 'active', 'not failed');
  assert.is(after.prefix, before.prefix);
  assert.is(after.pool, 'residential');
  assert.is(after.failure, null);
  assert.equal(allocations(), [`sub-1 ${before.prefix}`], 'IPAM holds exactly the old prefix');
  assert.equal(
    after.pending.map((p: { step: string }) => p.step),
    ['cpe_configure_pd'],
    'the CPE restore that could not be done is a pending step',
  );
});

test('POST /update with the IPAM refusing the allocation (503) → active on the old prefix, the rollback allocates nothing', async () => {
  h = await startHarness();
  const before = await activeSubscriber(null);
  const callsBefore = ipamCalls('allocate');
  const nb503 = () => new ServiceError('upstream_unavailable', 'NetBox answered 503', { retryable: true });
  // Far more failures than retry.attempts (2): an allocation POST during the rollback would fail too.
  h.ipam.failNext('allocate', { error: nb503, times: 50 });
  const r = await h.post('update', { subscriber_id: 'sub-1', pool: 'business' });
  assert.is(r.status, 502);
  const after = (await h.get(`${BASE}/lifecycle/sub-1`)).body;
  assert.is(after.state, 'active', 'not failed');
  assert.is(after.prefix, before.prefix);
  assert.is(after.failure, null);
  assert.is(after.last_error.step, 'fake_allocate');
  assert.is(ipamCalls('allocate') - callsBefore, 2, 'the two attempts of the update, and no allocation POST in the rollback');
  assert.equal(allocations(), [`sub-1 ${before.prefix}`]);
});

test('POST /update whose allocation answer is lost → the rollback finds and releases what IPAM holds under the key', async () => {
  h = await startHarness();
  const before = await activeSubscriber(null);
  const callsBefore = ipamCalls('allocate');
  // Both attempts take effect in IPAM, but their answers are lost on the way back.
  h.ipam.failNext('allocate', { afterEffect: true, times: 2 });
  const r = await h.post('update', { subscriber_id: 'sub-1', pool: 'business' });
  assert.is(r.status, 502);
  const after = (await h.get(`${BASE}/lifecycle/sub-1`)).body;
  assert.is(after.state, 'active');
  assert.is(after.prefix, before.prefix);
  assert.is(ipamCalls('allocate') - callsBefore, 2);
  assert.equal(allocations(), [`sub-1 ${before.prefix}`], 'the block the lost answer took is given back');
});

test.run();
