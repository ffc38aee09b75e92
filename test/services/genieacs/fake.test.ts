import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createFakeCpe } from '../../../services/genieacs/fake.ts';

const test = suite('fake CPE: state, offline queueing and faults');

const rejection = (p: Promise<unknown>): Promise<ServiceError> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as ServiceError,
  );

test('configurePd and removeIpv6 set the CPE prefix and log each command', async () => {
  const fake = createFakeCpe();
  assert.equal(await fake.port.configurePd({ key: 'k1', cpeId: 'c', prefix: '2001:db8:100::/56' }), { status: 'done' });
  assert.is(fake.cpe('c')?.prefix, '2001:db8:100::/56');
  await fake.port.removeIpv6({ key: 'k2', cpeId: 'c' });
  assert.equal(fake.cpe('c'), {
    prefix: null,
    log: [
      { op: 'configurePd', key: 'k1', prefix: '2001:db8:100::/56' },
      { op: 'removeIpv6', key: 'k2', prefix: null },
    ],
  });
});

test('an offline CPE answers queued and is left unchanged until set online', async () => {
  const fake = createFakeCpe();
  fake.setOnline('c', false);
  assert.equal(await fake.port.configurePd({ key: 'k1', cpeId: 'c', prefix: '2001:db8:100::/56' }), { status: 'queued', taskId: 'task-k1' });
  assert.is(fake.cpe('c'), undefined);
  fake.setOnline('c', true);
  await fake.port.configurePd({ key: 'k1', cpeId: 'c', prefix: '2001:db8:100::/56' });
  assert.is(fake.cpe('c')?.prefix, '2001:db8:100::/56');
});

test("failNext('configurePd', { times: 2 }) fails two configurations, applying nothing; removeIpv6 is not affected", async () => {
  const fake = createFakeCpe();
  fake.failNext('configurePd', { times: 2 });
  await fake.port.removeIpv6({ key: 'r', cpeId: 'c' });
  for (let i = 0; i < 2; i++) assert.is((await rejection(fake.port.configurePd({ key: 'k', cpeId: 'c', prefix: '2001:db8:100::/56' }))).code, 'upstream_unavailable');
  assert.equal(fake.cpe('c')?.log.map((l) => l.op), ['removeIpv6']);
  await fake.port.configurePd({ key: 'k', cpeId: 'c', prefix: '2001:db8:100::/56' });
  assert.is(fake.cpe('c')?.prefix, '2001:db8:100::/56');
});

test.run();
