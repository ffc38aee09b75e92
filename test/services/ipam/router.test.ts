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

test('a draining pool refuses allocations (not_found on pool, saying why) and gives back through every IPAM that may hold it', async () => {
  const one = createFakeIpam([A, C]);
  const two = createFakeIpam([C]);
  const x = await one.allocate(cmd('c', 'x'));
  const users = { lifecycles: 2, blocks: 1 };
  const router = createIpamRouter(new Map<string, IpamPort>([['a', one]]), {
    pools: [{ name: 'c', prefix: C.prefix, prefixLength: 56, ipams: [one, two] }],
    users: () => users,
  });
  const err = await router.allocate(cmd('c', 'y')).then(() => null, (e: unknown) => e as ServiceError);
  assert.instance(err, ServiceError);
  assert.equal([err!.code, err!.field], ['not_found', 'pool']);
  assert.match(err!.message, /pool "c" is draining: it was removed from the configuration .*2 live lifecycle/);
  assert.equal(await router.allocatedUnder({ key: 'x', lifecycleId: 'lc-x', pool: 'c' }), [x]);
  await router.release({ lifecycleId: 'lc-x', pool: 'c', prefix: x.prefix, netboxPrefixId: null });
  await router.free({ lifecycleId: 'lc-x', pool: 'c', prefix: x.prefix, netboxPrefixId: null });
  assert.equal(one.allocations(), []);
  assert.equal(two.calls.map((c) => c.method), ['allocatedUnder', 'release', 'free'], 'the second IPAM is asked too');
  const shown = (await router.utilization()).map((u) => [u.name, u.draining, u.capacity, u.allocated]);
  assert.equal(shown, [['a', false, 256, 0], ['c', true, 0, 2]]);
  users.lifecycles = 0;
  users.blocks = 0;
  assert.equal((await router.utilization()).map((u) => u.name), ['a'], 'a draining pool nobody uses any more is not listed');
});

test('a pool neither configured nor draining is still unknown, for releases too', async () => {
  const router = createIpamRouter(new Map<string, IpamPort>([['a', createFakeIpam([A])]]), { pools: [], users: () => ({ lifecycles: 0, blocks: 0 }) });
  const err = await router.release({ lifecycleId: 'l', pool: 'zz', prefix: '2001:db8:ff::/56', netboxPrefixId: null }).then(() => null, (e: unknown) => e as ServiceError);
  assert.equal([err?.code, err?.message], ['not_found', 'unknown pool zz']);
});

test.run();
