// With radius.reply.framed_prefix first64 the WAN /64 moves with the delegation, and a CoA cannot
// move it: RFC 5176 §3 lists Framed-IPv6-Prefix among the attributes that identify a session, so the
// NAS would keep the old /64, inside a block an update gives back at once. Found wiring a lab by the docs.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import type { OpenSession, SessionSource } from '../../services/radius/sessions.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const SECRET = 'deploy14-coa-secret';
const open: OpenSession = {
  acctSessionId: 'SESS-0002', acctUniqueId: 'u2', username: 'alice@example.net', nasIpAddress: '127.0.0.1',
  framedIpv6Prefix: '2001:db8::/64', delegatedIpv6Prefix: '2001:db8::/56', startedAt: null,
};

const test = suite<{ nas: StandInNas }>('deploy: a CoA that moves a derived WAN /64', {} as { nas: StandInNas });
test.before.each(async (ctx) => { ctx.nas = await startStandInNas(SECRET); });
test.after.each(async (ctx) => { await ctx.nas.close(); });

function client(nas: StandInNas, framed: 'none' | 'given' | 'first64') {
  const source: SessionSource = { openSessions: async (u) => (u === open.username ? [open] : []) };
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'unused' },
    reply: { framed_prefix: framed },
    dynamic_authorization: { timeout_ms: 40, retries: 1, nas: [{ address: '127.0.0.1', secret_env: 'S', port: nas.port, action: 'coa' }] },
  });
  return createDynamicAuthorization(cfg, pino({ level: 'silent' }), { sessions: source, env: { S: SECRET } });
}

test('notifySessions(coa) with framed_prefix first64 sends a Disconnect-Request, so the session re-reads both prefixes', async ({ nas }) => {
  const out = await client(nas, 'first64').notifySessions({ username: open.username, action: 'coa', delegatedPrefix: '2001:db8:0:100::/56' });
  assert.equal(out, [{ sessionId: 'SESS-0002', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
  assert.equal(nas.received.map((r) => r.code), [40]);
});

test('notifySessions(coa) with framed_prefix none still sends a CoA-Request carrying the new Delegated-IPv6-Prefix', async ({ nas }) => {
  const out = await client(nas, 'none').notifySessions({ username: open.username, action: 'coa', delegatedPrefix: '2001:db8:0:100::/56' });
  assert.is(out[0]!.action, 'coa');
  assert.equal(nas.received.map((r) => r.code), [43]);
  assert.ok(nas.received[0]!.attributes.some((a) => a.type === 123));
});

test.run();
