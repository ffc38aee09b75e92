import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { FakeDynamicAuthorization, FakeRadiusReplyStore } from '../../../services/radius/fake.ts';
import { DynamicAuthorizationError } from '../../../services/radius/notify-error.ts';

const test = suite('RADIUS fakes: faults and inspection');

const write = { username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' };
const rejection = (p: Promise<unknown>): Promise<ServiceError> =>
  p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as ServiceError,
  );
const rowsOf = (fake: FakeRadiusReplyStore, username: string) => fake.rowsOf(username).map(({ attribute, op, value }) => [attribute, op, value]);

test('writeReply stores one := row per managed attribute; the same write again keeps the rows and their ids', async () => {
  const fake = new FakeRadiusReplyStore();
  await fake.writeReply(write);
  assert.equal(rowsOf(fake, 'alice'), [
    ['Delegated-IPv6-Prefix', ':=', '2001:db8:100::/56'],
    ['Framed-IPv6-Prefix', ':=', '2001:db8:ffff:1::/64'],
  ]);
  const ids = fake.rows.map((r) => r.id);
  await fake.writeReply(write);
  assert.equal(fake.rows.map((r) => r.id), ids);
  assert.equal(fake.calls, [
    { method: 'writeReply', cmd: write },
    { method: 'writeReply', cmd: write },
  ]);
});

test('removeReply drops only our attributes of that user; seeded rows of others stay', async () => {
  const fake = new FakeRadiusReplyStore();
  const foreign = fake.seed({ username: 'alice', attribute: 'Session-Timeout', op: ':=', value: '3600' });
  const bob = fake.seed({ username: 'bob', attribute: 'Delegated-IPv6-Prefix', op: ':=', value: '2001:db8:200::/56' });
  await fake.writeReply(write);
  await fake.removeReply({ username: 'alice' });
  assert.equal(fake.rows, [foreign, bob]);
});

test("failNext('writeReply', { times: 2 }) fails two writes, storing nothing, then clears; removeReply has its own queue", async () => {
  const fake = new FakeRadiusReplyStore();
  fake.failNext('writeReply', { times: 2 });
  await fake.removeReply({ username: 'alice' });
  for (let i = 0; i < 2; i++) {
    const err = await rejection(fake.writeReply(write));
    assert.equal([err.code, err.retryable], ['upstream_unavailable', true]);
  }
  assert.equal(fake.rows, []);
  await fake.writeReply(write);
  assert.is(fake.rowsOf('alice').length, 2);
  assert.equal(fake.calls.map((c) => c.method), ['removeReply', 'writeReply', 'writeReply', 'writeReply']);
});

test("failNext('writeReply', { error, afterEffect }) writes the rows and still throws that error: a lost answer", async () => {
  const fake = new FakeRadiusReplyStore();
  const lost = new ServiceError('timeout', 'answer lost', { retryable: true });
  fake.failNext('writeReply', { error: lost, afterEffect: true });
  assert.is(await rejection(fake.writeReply(write)), lost);
  assert.equal(fake.rowsOf('alice').map((r) => r.value), ['2001:db8:100::/56', '2001:db8:ffff:1::/64']);
});

test('FakeDynamicAuthorization records each request and answers with one outcome per open session', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  fake.openSession({ username: 'bob', sessionId: 's2', nas: '192.0.2.1' });
  const coa = await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(coa, [{ sessionId: 's1', nas: '192.0.2.1', action: 'coa', attempts: 1, result: 'ack', errorCause: null }]);
  await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(fake.sent, [
    { username: 'alice', sessionId: 's1', nas: '192.0.2.1', action: 'coa', delegatedPrefix: '2001:db8:200::/56' },
    { username: 'alice', sessionId: 's1', nas: '192.0.2.1', action: 'disconnect', delegatedPrefix: null },
  ]);
  assert.equal(fake.sessions.map((s) => s.sessionId), ['s2'], 'a Disconnect-ACK ends the session, as the Accounting-Stop would');
});

test("failNext('notifySessions') throws once before anything is sent, then clears", async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  fake.failNext('notifySessions');
  const cmd = { username: 'alice', action: 'coa' as const, delegatedPrefix: null };
  assert.is((await rejection(fake.notifySessions(cmd))).code, 'upstream_unavailable');
  assert.equal(fake.sent, []);
  assert.is((await fake.notifySessions(cmd)).length, 1);
  assert.is(fake.sent.length, 1);
});

test("option action: 'disconnect' turns a coa into a Disconnect-Request without the prefix", async () => {
  const fake = new FakeDynamicAuthorization({ action: 'disconnect' });
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  const [o] = await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.is(o!.action, 'disconnect');
  assert.is(fake.sent[0]!.delegatedPrefix, null);
});

test('answers: silence is no_answer after noAnswerAttempts, NAK 503 is not_found, a 4xx NAK throws with every outcome attached', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.noAnswerAttempts = 5;
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  fake.openSession({ username: 'alice', sessionId: 's2', nas: '192.0.2.2' });
  fake.answer = (req) => (req.nas === '192.0.2.1' ? { kind: 'no_answer' } : { kind: 'nak', errorCause: 503 });
  const quiet = await fake.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.equal(quiet.map((o) => [o.sessionId, o.result, o.attempts, o.errorCause]), [['s1', 'no_answer', 5, null], ['s2', 'not_found', 1, 503]]);
  fake.answer = (req) => (req.nas === '192.0.2.1' ? { kind: 'ack' } : { kind: 'nak', errorCause: 402 });
  const err = await rejection(fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: null }));
  assert.instance(err, DynamicAuthorizationError);
  assert.is(err.retryable, false);
  assert.equal((err as DynamicAuthorizationError).outcomes.map((o) => [o.sessionId, o.result]), [['s1', 'ack'], ['s2', 'nak']]);
});

test('as the real client: a CoA NAKed 405/406/501 goes again as a Disconnect; a Disconnect so NAKed is unsupported, not thrown', async () => {
  const fake = new FakeDynamicAuthorization();
  fake.openSession({ username: 'alice', sessionId: 's1', nas: '192.0.2.1' });
  fake.answer = (req) => (req.action === 'coa' ? { kind: 'nak', errorCause: 405 } : { kind: 'nak', errorCause: 406 });
  const out = await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:100::/56' });
  assert.equal(fake.sent.map((r) => [r.action, r.delegatedPrefix]), [['coa', '2001:db8:100::/56'], ['disconnect', null]]);
  assert.equal(out, [{ sessionId: 's1', nas: '192.0.2.1', action: 'disconnect', attempts: 1, result: 'unsupported', errorCause: 406 }]);
  fake.answer = (req) => (req.action === 'coa' ? { kind: 'nak', errorCause: 501 } : { kind: 'ack' });
  const acked = await fake.notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:100::/56' });
  assert.equal(acked.map((o) => [o.action, o.result]), [['disconnect', 'ack']]);
  assert.equal(fake.sessions, [], 'the Disconnect-ACK ended the session');
});

test.run();
