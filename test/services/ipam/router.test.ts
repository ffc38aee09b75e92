import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createFakeIpam } from '../../../services/ipam/fake.ts';
import type { IpamPort } from '../../../services/ipam/port.ts';
import { createIpamRouter } from '../../../services/ipam/router.ts';

const test = suite('ipam router');

const A = { name: 'a', prefix: '2001:db8:a::/48', prefixLength: 56 };
const B = { name: 'b', prefix: '2001:db8:b::/48', prefixLength: 56 };
const C = { name: 'c', prefix: '2001:db8:c::/48', prefixLength: 56 };
const cmd = (pool: string, key: string) => ({ key, lifecycleId: `lc-${key}`, subscriberId: `sub-${key}`, pool, prefixLength: 56 });

/** Two IPAMs: `one` serves pools a and b, `two` serves c. */
function routed() {
  const one = createFakeIpam([A, B]);
  const two = createFakeIpam([C]);
  const router = createIpamRouter(new Map<string, IpamPort>([['a', one], ['b', one], ['c', two]]));
  return { one, two, router };
}

test('allocate and release go to the IPAM that serves the pool', async () => {
  const { one, two, router } = routed();
  const a = await router.allocate(cmd('a', 'x'));
  const c = await router.allocate(cmd('c', 'y'));
  assert.equal([a.prefix, c.prefix], ['2001:db8:a::/56', '2001:db8:c::/56']);
  assert.equal(one.allocations().map((x) => x.prefix), ['2001:db8:a::/56']);
  assert.equal(two.allocations().map((x) => x.prefix), ['2001:db8:c::/56']);
  await router.release({ lifecycleId: 'lc-y', pool: 'c', prefix: c.prefix, netboxPrefixId: null });
  assert.equal(two.allocations(), []);
  assert.is(one.allocations().length, 1);
});

test('a pool no IPAM serves is not_found on the field pool', async () => {
  const { router } = routed();
  const err = await router.allocate(cmd('nowhere', 'x')).then(() => null, (e: unknown) => e as ServiceError);
  assert.instance(err, ServiceError);
  assert.equal([err!.code, err!.field], ['not_found', 'pool']);
});

test('utilization and markedPrefixes ask each IPAM once; utilization lists only routed pools', async () => {
  const one = createFakeIpam([A, B]);
  const router = createIpamRouter(new Map<string, IpamPort>([['a', one]]));
  await router.allocate(cmd('a', 'x'));
  assert.equal((await router.utilization()).map((u) => [u.name, u.allocated]), [['a', 1]]);
  assert.equal(await router.markedPrefixes(), [{ pool: 'a', prefix: '2001:db8:a::/56', lifecycleId: 'lc-x', key: 'x' }]);
  assert.equal(one.calls.map((c) => c.method), ['allocate', 'utilization', 'markedPrefixes']);
});

test('init and sweep run the hook of each IPAM that has one, once per IPAM', async () => {
  const ran: string[] = [];
  const hooked = (name: string): IpamPort & { init(): Promise<void>; sweep(): Promise<string> } => ({
    ...createFakeIpam([A]),
    init: async () => void ran.push(`init ${name}`),
    sweep: async () => (ran.push(`sweep ${name}`), `swept ${name}`),
  });
  const x = hooked('x');
  const router = createIpamRouter(new Map<string, IpamPort>([['a', x], ['b', x], ['c', createFakeIpam([C])]]));
  await router.init();
  assert.equal(await router.sweep(), ['swept x']);
  assert.equal(ran, ['init x', 'sweep x']);
});

test.run();
