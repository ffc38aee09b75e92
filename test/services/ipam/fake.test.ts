import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createFakeIpam } from '../../../services/ipam/fake.ts';

const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }];
const cmd = (key: string) => ({ key, lifecycleId: `lc-${key}`, subscriberId: `sub-${key}`, pool: 'p', prefixLength: 56 });
const test = suite('fake ipam');

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ServiceError);
    return err as ServiceError;
  }
  assert.unreachable('expected a failure');
  throw new Error('unreachable');
}

test('failNext(method) makes the next calls throw a retryable upstream_unavailable, then lets them through', async () => {
  const ipam = createFakeIpam(pools);
  ipam.failNext('allocate', { times: 2 });
  for (let i = 0; i < 2; i++) {
    const err = await failure(ipam.allocate(cmd('a')));
    assert.is(err.code, 'upstream_unavailable');
    assert.is(err.retryable, true);
  }
  assert.equal(ipam.allocations(), []);
  assert.is((await ipam.allocate(cmd('a'))).prefix, '2001:db8::/56');
  assert.equal(ipam.calls.map((c) => c.method), ['allocate', 'allocate', 'allocate']);
});

test('failNext(method, { error, afterEffect }) loses the answer but keeps the effect, as a timeout does', async () => {
  const ipam = createFakeIpam(pools);
  ipam.failNext('allocate', { error: new ServiceError('timeout', 'lost answer', { retryable: true }), afterEffect: true });
  assert.is((await failure(ipam.allocate(cmd('a')))).code, 'timeout');
  assert.equal(ipam.allocations().map((a) => a.prefix), ['2001:db8::/56']);
  assert.is((await ipam.allocate(cmd('a'))).prefix, '2001:db8::/56');
  assert.is(ipam.allocations().length, 1);
});

test('faults are queued per method', async () => {
  const ipam = createFakeIpam(pools);
  const a = await ipam.allocate(cmd('a'));
  ipam.failNext('release');
  const release = { lifecycleId: 'lc-a', pool: 'p', prefix: a.prefix, netboxPrefixId: null };
  assert.is((await ipam.utilization())[0]?.allocated, 1);
  assert.is((await failure(ipam.release(release))).code, 'upstream_unavailable');
  assert.is(ipam.allocations().length, 1);
  await ipam.release(release);
  assert.equal(ipam.allocations(), []);
});

test('allocations() lays open owner and key, and is a copy', async () => {
  const ipam = createFakeIpam(pools);
  await ipam.allocate(cmd('b'));
  await ipam.allocate({ ...cmd('c'), prefixLength: 64 });
  const seen = ipam.allocations();
  assert.equal(seen, [
    { pool: 'p', prefix: '2001:db8::/56', prefixLength: 56, key: 'b', lifecycleId: 'lc-b', subscriberId: 'sub-b' },
    { pool: 'p', prefix: '2001:db8:0:100::/64', prefixLength: 64, key: 'c', lifecycleId: 'lc-c', subscriberId: 'sub-c' },
  ]);
  seen.pop();
  assert.is(ipam.allocations().length, 2);
});

test('a key reused for another length is an idempotency_mismatch, as in the embedded IPAM', async () => {
  const ipam = createFakeIpam(pools);
  await ipam.allocate(cmd('k'));
  assert.is((await failure(ipam.allocate({ ...cmd('k'), prefixLength: 60 }))).code, 'idempotency_mismatch');
});

test('an aborted signal stops the call before it is recorded', async () => {
  const ipam = createFakeIpam(pools);
  const controller = new AbortController();
  controller.abort();
  try {
    await ipam.allocate(cmd('a'), controller.signal);
    assert.unreachable('expected an abort');
  } catch (err) {
    assert.is((err as Error).name, 'AbortError');
  }
  assert.equal(ipam.calls, []);
});

test.run();
