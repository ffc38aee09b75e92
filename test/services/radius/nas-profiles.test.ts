// Per-NAS profiles: which attributes identify the session, whether accounting can confirm a CoA,
// and the fallback for one it did not confirm, checked on the bytes a stand-in NAS receives.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../../services/radius/dynamic-authorization.ts';
import type { OpenSession, SessionSource } from '../../../services/radius/sessions.ts';
import { startStandInNas, type StandInNas } from '../../support/stand-in-nas.ts';

const SECRET = 'profile-secret';
const T = { userName: 1, framedIpv6Prefix: 97, callingStationId: 31, acctSessionId: 44, nasIp: 4 };
const session: OpenSession = {
  acctSessionId: 'sess-p',
  acctUniqueId: 'uniq-p',
  username: 'carol',
  nasIpAddress: '127.0.0.1',
  framedIpv6Prefix: '2001:db8:ffff:7::/64',
  delegatedIpv6Prefix: '2001:db8:700::/56',
  startedAt: null,
  callingStationId: '00:11:22:33:44:55',
};

const test = suite<{ nas: StandInNas }>('NAS profiles', {} as { nas: StandInNas });
test.before.each(async (ctx) => {
  ctx.nas = await startStandInNas(SECRET);
});
test.after.each(async (ctx) => {
  await ctx.nas.close();
});

/** A client for one NAS with `nasCfg`; radacct holds `open` (a test may change it). */
function client(ctx: { nas: StandInNas }, nasCfg: Record<string, unknown>, open: OpenSession[], da: Record<string, unknown> = {}) {
  const sessions: SessionSource = { openSessions: async (u) => open.filter((s) => s.username === u) };
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'unused' },
    dynamic_authorization: { timeout_ms: 40, retries: 0, nas: [{ address: '127.0.0.1', secret: SECRET, port: ctx.nas.port, ...nasCfg }], ...da },
  });
  return createDynamicAuthorization(cfg, pino({ level: 'silent' }), { sessions });
}
const types = (ctx: { nas: StandInNas }, i = 0) => ctx.nas.received[i]!.attributes.map((a) => a.type).filter((t) => t !== 80);

test('the default profile sends User-Name, Acct-Session-Id and NAS-IP-Address, as before', async (ctx) => {
  await client(ctx, {}, [session]).notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null });
  assert.equal(types(ctx), [T.userName, T.acctSessionId, T.nasIp]);
});

test('cisco-iosxe and juniper-mx identify by Acct-Session-Id and the NAS only (Cisco NAKs any attribute that does not match)', async (ctx) => {
  for (const profile of ['cisco-iosxe', 'juniper-mx']) {
    ctx.nas.received.length = 0;
    await client(ctx, { profile }, [session]).notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null });
    assert.equal(types(ctx), [T.acctSessionId, T.nasIp], profile);
  }
});

test("attributes overrides the profile: Framed-IPv6-Prefix and Calling-Station-Id from radacct; one radacct lacks is left out", async (ctx) => {
  await client(ctx, { profile: 'mikrotik', attributes: ['Acct-Session-Id', 'Framed-IPv6-Prefix', 'Calling-Station-Id'] }, [session]).notifySessions({
    username: 'carol',
    action: 'disconnect',
    delegatedPrefix: null,
  });
  assert.equal(types(ctx), [T.acctSessionId, T.framedIpv6Prefix, T.callingStationId]);
  const calling = ctx.nas.received[0]!.attributes.find((a) => a.type === T.callingStationId)!;
  assert.is(calling.value.toString(), '00:11:22:33:44:55');
  ctx.nas.received.length = 0;
  await client(ctx, { attributes: ['Acct-Session-Id', 'Calling-Station-Id'] }, [{ ...session, callingStationId: null }]).notifySessions({
    username: 'carol',
    action: 'disconnect',
    delegatedPrefix: null,
  });
  assert.equal(types(ctx), [T.acctSessionId]);
});

test('accel-ppp: a CoA its accounting cannot confirm is followed by a Disconnect-Request (the profile fallback)', async (ctx) => {
  const open = [session];
  const out = await client(ctx, { profile: 'accel-ppp' }, open, { confirm_window_ms: 2000, confirm_poll_ms: 20 }).notifySessions({
    username: 'carol',
    action: 'coa',
    delegatedPrefix: '2001:db8:900::/56',
  });
  assert.equal(ctx.nas.received.map((r) => r.code), [43, 40]);
  assert.equal(out.map((o) => [o.action, o.result]), [['disconnect', 'ack']]);
});

test('reports_pd with unconfirmed_coa keep: an ACKed CoA accounting never shows is acked_unconfirmed, nothing more is sent', async (ctx) => {
  const out = await client(ctx, { profile: 'juniper-mx' }, [session], { confirm_window_ms: 200, confirm_poll_ms: 20 }).notifySessions({
    username: 'carol',
    action: 'coa',
    delegatedPrefix: '2001:db8:900::/56',
  });
  assert.equal(ctx.nas.received.map((r) => r.code), [43]);
  assert.equal(out.map((o) => [o.action, o.result]), [['coa', 'acked_unconfirmed']]);
});

test('a Disconnect whose session leaves radacct while the window is open is confirmed', async (ctx) => {
  const open = [session];
  ctx.nas.behave = (req) => {
    setTimeout(() => open.splice(0), 60);
    return { code: req.code + 1 };
  };
  const out = await client(ctx, {}, open, { confirm_window_ms: 2000, confirm_poll_ms: 20 }).notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null });
  assert.equal(out.map((o) => o.result), ['confirmed']);
});

test('an abort while waiting for accounting rejects at once, not at the end of the window', async (ctx) => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 100);
  const err = await client(ctx, {}, [session], { confirm_window_ms: 10_000, confirm_poll_ms: 20 })
    .notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null }, ac.signal)
    .then(() => null, (e: unknown) => e);
  assert.is((err as Error).name, 'AbortError');
  assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
});

test.run();
