import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { FakeDynamicAuthorization, FakeRadiusReplyStore } from '../../../services/radius/fake.ts';
import { DynamicAuthorizationError } from '../../../services/radius/notify-error.ts';

const test = suite('RADIUS fakes: faults and inspection');

test('FakeRadiusReplyStore.faults.failNext fails the next calls, then the store works again', async () => {
  const fake = new FakeRadiusReplyStore();
  fake.faults.failNext(new ServiceError('upstream_unavailable', 'sqlite busy', { retryable: true }), 2);
  const cmd = { username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null };
  for (let i = 0; i < 2; i++) await fake.writeReply(cmd).then(() => assert.unreachable(), (e: ServiceError) => assert.is(e.code, 'upstream_unavailable'));
  assert.equal(fake.rowsOf('alice'), []);
  await fake.writeReply(cmd);
  assert.equal(fake.rowsOf('alice').map((r) => r.value), ['2001:db8:100::/56']);
  assert.equal(fake.calls.map((c) => c.method), ['writeReply', 'writeReply', 'writeReply']);
});

test('a fault function sees the command and may decline', async () => {
  const fake = new FakeRadiusReplyStore();
  fake.faults.failNext((cmd) => ((cmd as { username: string }).username === 'bob' ? new Error('boom') : null));
  await fake.removeReply({ username: 'alice' });
  await fake.removeReply({ username: 'bob' });
});

test('FakeDynamicAuthorization records what it sent; a CoA carries the prefix, a Disconnect does not', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(fake.sent.map((r) => [r.action, r.delegatedPrefix]), [['coa', '2001:db8:200::/56'], ['disconnect', null]]);
});

test('a Disconnect-ACK ends the session, as the NAS Accounting-Stop would', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  assert.is((await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null })).length, 1);
  assert.equal(await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }), []);
});

test("option action: 'disconnect' turns a coa into a Disconnect-Request", async () => {
  const fake = new FakeDynamicAuthorization({ action: 'disconnect' });
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  const [o] = await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.is(o!.action, 'disconnect');
});

test('a 4xx NAK throws like the real client, with the outcomes attached', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  fake.answer = () => ({ kind: 'nak', errorCause: 402 });
  const err = await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).catch((e) => e);
  assert.instance(err, DynamicAuthorizationError);
  assert.is(err.retryable, false);
  assert.equal(err.outcomes.map((o: { result: string }) => o.result), ['nak']);
});

test.run();
