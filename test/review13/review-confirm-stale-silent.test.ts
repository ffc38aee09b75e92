// Review 13 (eda6ff8): a stale radacct row (a Stop that never came) that already shows the prefix a
// CoA sends proves nothing of the CoA, and the fix said so only for a row its NAS NAKed 503. A lost
// Stop is most often a NAS that crashed or was taken away; the subscriber is back on another NAS,
// and the old one answers nothing. Its row, showing the prefix of before the suspension, still made
// the live session's CoA `confirmed` at once, the live session unchecked.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import type { OpenSession, SessionSource } from '../../services/radius/sessions.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const SECRET = 'review13-silent-secret';
const PREFIX = '2001:db8:710::/56';
const base = { username: 'dave@isp', framedIpv6Prefix: null, startedAt: null };
interface Ctx {
  gone: StandInNas;
  live: StandInNas;
}

const test = suite<Ctx>('review13: a stale row on a NAS that answers nothing does not confirm a CoA', {} as Ctx);
test.before.each(async (ctx) => {
  ctx.gone = await startStandInNas(SECRET, 'udp4', '127.0.0.3');
  ctx.gone.behave = () => 'drop';
  ctx.live = await startStandInNas(SECRET, 'udp4', '127.0.0.1');
});
test.after.each(async (ctx) => {
  await ctx.gone.close();
  await ctx.live.close();
});

function client(ctx: Ctx, open: OpenSession[]) {
  const sessions: SessionSource = { openSessions: async () => open.map((s) => ({ ...s })) };
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'unused' },
    dynamic_authorization: {
      timeout_ms: 40,
      retries: 0,
      confirm_window_ms: 200,
      confirm_poll_ms: 20,
      nas: [
        { address: '127.0.0.3', secret: SECRET, port: ctx.gone.port },
        { address: '127.0.0.1', secret: SECRET, port: ctx.live.port },
      ],
    },
  });
  return createDynamicAuthorization(cfg, pino({ level: 'silent' }), { sessions });
}

const stale: OpenSession = { ...base, nasIpAddress: '127.0.0.3', acctSessionId: 'old-1', acctUniqueId: 'u-old-1', delegatedIpv6Prefix: PREFIX };
const live: OpenSession = { ...base, nasIpAddress: '127.0.0.1', acctSessionId: 'live-2', acctUniqueId: 'u-live-2', delegatedIpv6Prefix: null };

test('the old NAS silent, only its stale row shows the prefix: the live session is acked_unconfirmed', async (ctx) => {
  const out = await client(ctx, [stale, live]).notifySessions({ username: 'dave@isp', action: 'coa', delegatedPrefix: PREFIX });
  assert.equal(
    out.map((o) => [o.sessionId, o.result]),
    [
      ['old-1', 'no_answer'],
      ['live-2', 'acked_unconfirmed'],
    ],
  );
});

test('the live session reporting the prefix (an Interim-Update) still confirms it', async (ctx) => {
  const open = [stale, live];
  const da = client(ctx, open);
  setTimeout(() => (open[1] = { ...live, delegatedIpv6Prefix: PREFIX }), 60);
  const out = await da.notifySessions({ username: 'dave@isp', action: 'coa', delegatedPrefix: PREFIX });
  assert.equal(out.map((o) => o.result), ['no_answer', 'confirmed']);
});

test.run();
