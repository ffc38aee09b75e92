import { Writable } from 'node:stream';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { createDynamicAuthorization, DynamicAuthorizationError } from '../../../services/radius/dynamic-authorization.ts';
import { formatPrefix } from '../../../services/ipv6.ts';
import { decodeIpv6Prefix } from '../../../services/radius/ipv6-prefix.ts';
import type { OpenSession, SessionSource } from '../../../services/radius/sessions.ts';
import { startStandInNas, type StandInNas } from '../../support/stand-in-nas.ts';

const SECRET = 's3cr3t-never-logged';
const session = (over: Partial<OpenSession> = {}): OpenSession => ({
  acctSessionId: 'sess-1',
  acctUniqueId: 'u1',
  username: 'alice',
  nasIpAddress: '127.0.0.1',
  framedIpv6Prefix: null,
  delegatedIpv6Prefix: null,
  startedAt: null,
  ...over,
});
const attr = (req: { attributes: { type: number; value: Buffer }[] }, type: number) => req.attributes.filter((a) => a.type === type).map((a) => a.value);

interface Ctx {
  nas: StandInNas;
  logs: string[];
}
const test = suite<Ctx>('RFC 5176 client against a stand-in NAS', {} as Ctx);
test.before.each(async (ctx) => {
  ctx.nas = await startStandInNas(SECRET);
  ctx.logs = [];
});
test.after.each(async (ctx) => {
  await ctx.nas.close();
  // Whatever happened in the test, the secret never reached a log line.
  assert.not.ok(ctx.logs.some((l) => l.includes(SECRET)), 'a log line carried the secret');
});

function client(ctx: Ctx, sessions: OpenSession[], da: Record<string, unknown> = {}) {
  const sink = new Writable({ write: (chunk, _enc, cb) => (ctx.logs.push(String(chunk)), cb()) });
  const log = pino({ level: 'debug' }, sink);
  const source: SessionSource = { openSessions: async (u) => sessions.filter((s) => s.username === u) };
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'unused' },
    dynamic_authorization: {
      timeout_ms: 40,
      retries: 2,
      nas: [{ address: '127.0.0.1', secret_env: 'TEST_COA_SECRET', port: ctx.nas.port }],
      ...da,
    },
  });
  return createDynamicAuthorization(cfg, log, { sessions: source, env: { TEST_COA_SECRET: SECRET } });
}

test('notifySessions(disconnect) sends User-Name, Acct-Session-Id, NAS-IP-Address and a valid Message-Authenticator', async (ctx) => {
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: '2001:db8:100::/56' });
  assert.equal(out, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
  const [req] = ctx.nas.received;
  assert.is(req!.code, 40);
  assert.ok(req!.valid);
  assert.equal(attr(req!, 1).map(String), ['alice']);
  assert.equal(attr(req!, 44).map(String), ['sess-1']);
  assert.equal(attr(req!, 4), [Buffer.from([127, 0, 0, 1])]);
  assert.is(attr(req!, 80).length, 1, 'Message-Authenticator');
  assert.is(attr(req!, 123).length, 0, 'a Disconnect-Request carries no prefix');
});

test('a NAS that drops the first copies gets the same bytes and Identifier again', async (ctx) => {
  ctx.nas.behave = (req, n) => (n < 2 ? 'drop' : { code: 41 });
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.is(out[0]!.result, 'ack');
  assert.is(out[0]!.attempts, 3);
  assert.is(ctx.nas.received.length, 3);
  assert.equal(ctx.nas.received[1]!.raw, ctx.nas.received[0]!.raw);
  assert.equal(ctx.nas.received[2]!.raw, ctx.nas.received[0]!.raw);
});

test('a NAS that never answers gives no_answer after 1 + retries sends, with a warning', async (ctx) => {
  ctx.nas.behave = () => 'drop';
  const started = Date.now();
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.equal(out, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 3, result: 'no_answer', errorCause: null }]);
  assert.is(ctx.nas.received.length, 3);
  // 40 + 80 + 160 ms of backoff.
  assert.ok(Date.now() - started >= 270, `backoff too short: ${Date.now() - started} ms`);
  assert.ok(ctx.logs.some((l) => l.includes('"level":40') && l.includes('NAS did not answer')));
});

test('an answer with a wrong Response Authenticator is ignored', async (ctx) => {
  ctx.nas.behave = (_req, n) => ({ code: 41, corrupt: n === 0 });
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.is(out[0]!.result, 'ack');
  assert.is(out[0]!.attempts, 2);
});

test('Disconnect-NAK with Error-Cause 503 is not_found, and done', async (ctx) => {
  ctx.nas.behave = () => ({ code: 42, errorCause: 503 });
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.equal(out, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'not_found', errorCause: 503 }]);
});

test('a 4xx NAK throws a non-retryable upstream_rejected naming the cause', async (ctx) => {
  ctx.nas.behave = () => ({ code: 42, errorCause: 404 });
  const err = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).then(() => null, (e: unknown) => e);
  assert.instance(err, DynamicAuthorizationError);
  const e = err as DynamicAuthorizationError;
  assert.is(e.code, 'upstream_rejected');
  assert.is(e.retryable, false);
  assert.match(e.message, /Disconnect-NAK .*Error-Cause 404 \(Invalid-Request\)/);
  assert.equal(e.outcomes.map((o) => [o.result, o.errorCause]), [['nak', 404]]);
  assert.not.match(e.message, new RegExp(SECRET));
});

test('a NAK (a NAS refusing, e.g. without CoA support) is logged as a warning without a stack, never as an error', async (ctx) => {
  ctx.nas.behave = () => ({ code: 45, errorCause: 407 });
  await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' }).catch(() => null);
  const nak = ctx.logs.filter((l) => l.includes('CoA-NAK'));
  assert.is(nak.length, 1, ctx.logs.join(''));
  assert.is(JSON.parse(nak[0]!).level, 40);
  assert.not.ok(ctx.logs.some((l) => JSON.parse(l).level >= 50), 'no line at error level or above');
  assert.not.ok(ctx.logs.some((l) => l.includes('"stack"')), 'no stack in the log');
});

test('a CoA NAKed as unsupported (405, 406, 501) is sent again as a Disconnect-Request; one NAKed so too is `unsupported`, a warning, and the step goes on', async (ctx) => {
  for (const cause of [405, 406, 501]) {
    ctx.nas.received.length = 0;
    ctx.logs.length = 0;
    // The NAS answers CoA with the cause and Disconnect with an ACK.
    ctx.nas.behave = (req) => (req.code === 43 ? { code: 45, errorCause: cause } : { code: 41 });
    const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
    assert.equal(ctx.nas.received.map((r) => r.code), [43, 40], `cause ${cause}`);
    assert.equal(out, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
    assert.ok(ctx.logs.some((l) => JSON.parse(l).level === 40 && /Disconnect-Request instead/.test(l)), ctx.logs.join(''));

    ctx.nas.received.length = 0;
    ctx.nas.behave = (req) => ({ code: req.code === 43 ? 45 : 42, errorCause: cause });
    const none = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
    assert.equal(ctx.nas.received.map((r) => r.code), [43, 40]);
    assert.equal(none, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'unsupported', errorCause: cause }]);
    const plain = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
    assert.equal(plain.map((o) => [o.action, o.result, o.errorCause]), [['disconnect', 'unsupported', cause]]);
  }
  assert.not.ok(ctx.logs.some((l) => JSON.parse(l).level >= 50), 'no line at error level or above');
});

test('a CoA NAKed 401 (Unsupported-Attribute) or 407 (Invalid-Attribute-Value), a NAS that cannot take the prefix in a CoA, is sent again as a Disconnect; a Disconnect so NAKed is an error', async (ctx) => {
  for (const cause of [401, 407]) {
    ctx.nas.received.length = 0;
    ctx.nas.behave = (req) => (req.code === 43 ? { code: 45, errorCause: cause } : { code: 41 });
    const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
    assert.equal(ctx.nas.received.map((r) => r.code), [43, 40], `cause ${cause}`);
    assert.equal(out, [{ sessionId: 'sess-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
    ctx.nas.behave = () => ({ code: 42, errorCause: cause });
    const err = (await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).catch((e) => e)) as ServiceError;
    assert.equal([err.code, err.retryable], ['upstream_rejected', false], `cause ${cause}`);
  }
});

test('a 5xx NAK other than 503 is retryable; a NAK without a cause is not', async (ctx) => {
  ctx.nas.behave = () => ({ code: 42, errorCause: 506 });
  const e506 = (await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).catch((e) => e)) as ServiceError;
  assert.is(e506.retryable, true);
  assert.match(e506.message, /506/);
  ctx.nas.behave = () => ({ code: 42 });
  const bare = (await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).catch((e) => e)) as ServiceError;
  assert.is(bare.retryable, false);
  assert.match(bare.message, /Error-Cause absent/);
});

test('with one session ACKed and one NAKed, the error still carries both outcomes', async (ctx) => {
  ctx.nas.behave = (req) => (String(req.attributes.find((a) => a.type === 44)!.value) === 'sess-2' ? { code: 42, errorCause: 401 } : { code: 41 });
  const err = (await client(ctx, [session(), session({ acctSessionId: 'sess-2', acctUniqueId: 'u2' })])
    .notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null })
    .catch((e) => e)) as DynamicAuthorizationError;
  assert.equal(err.outcomes.map((o) => `${o.sessionId}:${o.result}`).sort(), ['sess-1:ack', 'sess-2:nak']);
});

test('notifySessions(coa) sends a CoA-Request with Delegated-IPv6-Prefix (full-length form by default)', async (ctx) => {
  const out = await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(out.map((o) => [o.action, o.result]), [['coa', 'ack']]);
  const [req] = ctx.nas.received;
  assert.is(req!.code, 43);
  assert.equal(attr(req!, 123)[0]!.toString('hex'), '003820010db8020000000000000000000000');
  assert.is(formatPrefix(decodeIpv6Prefix(attr(req!, 123)[0]!)), '2001:db8:200::/56');
});

test('prefix_encoding truncated sends ceil(len/8) prefix octets', async (ctx) => {
  await client(ctx, [session()], { prefix_encoding: 'truncated' }).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(attr(ctx.nas.received[0]!, 123)[0]!.toString('hex'), '003820010db8020000');
});

test("a 'coa' becomes a Disconnect-Request where configuration says so (globally or per NAS); 'disconnect' is never a CoA", async (ctx) => {
  await client(ctx, [session()], { action: 'disconnect' }).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  const perNas = { nas: [{ address: '127.0.0.1', secret_env: 'TEST_COA_SECRET', port: ctx.nas.port, action: 'disconnect' }] };
  await client(ctx, [session()], perNas).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: '2001:db8:200::/56' });
  await client(ctx, [session()]).notifySessions({ username: 'alice', action: 'coa', delegatedPrefix: '2001:db8:200::/56' });
  assert.equal(ctx.nas.received.map((r) => r.code), [40, 40, 40, 43]);
  assert.is(attr(ctx.nas.received[2]!, 123).length, 0, 'no prefix in a Disconnect-Request');
});

test('message_authenticator: false leaves it out (and the request still authenticates)', async (ctx) => {
  await client(ctx, [session()], { message_authenticator: false }).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.is(attr(ctx.nas.received[0]!, 80).length, 0);
  assert.ok(ctx.nas.received[0]!.valid);
});

test('an IPv6 NAS is identified by NAS-IPv6-Address and reached over IPv6', async (ctx) => {
  const nas6 = await startStandInNas(SECRET, 'udp6');
  try {
    const da = client(ctx, [session({ nasIpAddress: '0:0:0:0:0:0:0:1' })], { nas: [{ address: '::1', secret_env: 'TEST_COA_SECRET', port: nas6.port }] });
    const out = await da.notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out.map((o) => [o.nas, o.result]), [['::1', 'ack']]);
    const [req] = nas6.received;
    assert.equal(attr(req!, 95), [Buffer.from('00000000000000000000000000000001', 'hex')]);
    assert.is(attr(req!, 4).length, 0);
  } finally {
    await nas6.close();
  }
});

test('a session without a usable NAS address is reported, not sent', async (ctx) => {
  const out = await client(ctx, [session({ nasIpAddress: '' })]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null });
  assert.equal(out.map((o) => [o.result, o.attempts]), [['no_answer', 0]]);
  assert.is(ctx.nas.received.length, 0);
});

// `upstream_rejected`, not `internal`: the message is the operator's to read in the lifecycle's failure.
test('a NAS with no configured secret is a non-retryable error naming the NAS and the fix', async (ctx) => {
  const err = (await client(ctx, [session({ nasIpAddress: '192.0.2.7' })]).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }).catch((e) => e)) as ServiceError;
  assert.is(err.code, 'upstream_rejected');
  assert.match(err.message, 'default_secret_env');
  assert.is(err.retryable, false);
  assert.match(err.message, /192\.0\.2\.7/);
});

test('no open session: nothing is sent', async (ctx) => {
  assert.equal(await client(ctx, []).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }), []);
  assert.is(ctx.nas.received.length, 0);
});

test('aborting the signal stops waiting at once', async (ctx) => {
  ctx.nas.behave = () => 'drop';
  const ac = new AbortController();
  const started = Date.now();
  setTimeout(() => ac.abort(), 30);
  const err = await client(ctx, [session()], { timeout_ms: 5000 }).notifySessions({ username: 'alice', action: 'disconnect', delegatedPrefix: null }, ac.signal).catch((e) => e);
  assert.is((err as Error).name, 'AbortError');
  assert.ok(Date.now() - started < 1000, 'returned promptly');
  assert.is(ctx.nas.received.length, 1);
});

test.run();
