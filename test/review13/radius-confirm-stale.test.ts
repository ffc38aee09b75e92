// A CoA confirmed from accounting must be confirmed by a session the NAS has, not by a stale radacct
// row (a Stop that never came) that already showed the prefix: reactivate sends the prefix the
// subscriber had before its suspension, and the row of that old session still reports it.
// - The NAS answers Session-Context-Not-Found (503) for the old session: its row proves nothing.
// - Review 13 (eda6ff8 said so only for a 503): a lost Stop is most often a NAS that crashed or was
//   taken away; the subscriber is back on another NAS and the old one answers nothing. Its row still
//   made the live session's CoA `confirmed` at once, the live session unchecked.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import type { OpenSession, SessionSource } from '../../services/radius/sessions.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const SECRET = 'review13-confirm-secret';
const ACCT_SESSION_ID = 44;
const PREFIX = '2001:db8:700::/56';
const base = { username: 'carol@isp', nasIpAddress: '127.0.0.1', framedIpv6Prefix: null, startedAt: null };
const live: OpenSession = { ...base, acctSessionId: 'live-2', acctUniqueId: 'u-live-2', delegatedIpv6Prefix: null };

function client(nases: StandInNas[], open: OpenSession[]) {
  const sessions: SessionSource = { openSessions: async () => open.map((s) => ({ ...s })) };
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'unused' },
    dynamic_authorization: {
      timeout_ms: 40,
      retries: 0,
      confirm_window_ms: 200,
      confirm_poll_ms: 20,
      nas: nases.map((n) => ({ address: n.host, secret: SECRET, port: n.port })),
    },
  });
  return createDynamicAuthorization(cfg, pino({ level: 'silent' }), { sessions });
}

type Ctx = { nases: StandInNas[] };

/** The stale row's NAS and how it answers for the old session: 'nak' (503, it knows only the live one) or 'silent' (another NAS, gone). */
function cases(how: 'nak' | 'silent') {
  const stale: OpenSession = { ...base, nasIpAddress: how === 'nak' ? '127.0.0.1' : '127.0.0.3', acctSessionId: 'old-1', acctUniqueId: 'u-old-1', delegatedIpv6Prefix: PREFIX };
  const oldResult = how === 'nak' ? 'not_found' : 'no_answer';
  const test = suite<Ctx>(`review13: CoA confirmation ignores a stale radacct row (its NAS ${how === 'nak' ? 'answers 503' : 'silent'})`, {} as Ctx);
  test.before.each(async (ctx) => {
    const nas = await startStandInNas(SECRET);
    // The NAS knows only the live session: the old one is NAKed 503 (Session-Context-Not-Found).
    nas.behave = (req) => {
      const sid = req.attributes.find((a) => a.type === ACCT_SESSION_ID)?.value.toString();
      return sid === live.acctSessionId ? { code: req.code + 1 } : { code: req.code + 2, errorCause: 503 };
    };
    ctx.nases = [nas];
    if (how === 'silent') {
      const gone = await startStandInNas(SECRET, 'udp4', '127.0.0.3');
      gone.behave = () => 'drop';
      ctx.nases.push(gone);
    }
  });
  test.after.each(async (ctx) => {
    for (const n of ctx.nases) await n.close();
  });

  test('the live session is acked_unconfirmed while only the stale row shows the prefix', async (ctx) => {
    const out = await client(ctx.nases, [stale, live]).notifySessions({ username: 'carol@isp', action: 'coa', delegatedPrefix: PREFIX });
    assert.equal(
      out.map((o) => [o.sessionId, o.result]),
      [
        ['old-1', oldResult],
        ['live-2', 'acked_unconfirmed'],
      ],
    );
  });

  test('it is confirmed once the live session reports the prefix (an Interim-Update)', async (ctx) => {
    const open = [stale, live];
    const da = client(ctx.nases, open);
    setTimeout(() => (open[1] = { ...live, delegatedIpv6Prefix: PREFIX }), 60);
    const out = await da.notifySessions({ username: 'carol@isp', action: 'coa', delegatedPrefix: PREFIX });
    assert.equal(
      out.map((o) => [o.sessionId, o.result]),
      [
        ['old-1', oldResult],
        ['live-2', 'confirmed'],
      ],
    );
  });

  test('a new Start (another session id) reporting the prefix confirms it, as before', async (ctx) => {
    const open = [stale, live];
    const da = client(ctx.nases, open);
    setTimeout(() => open.push({ ...base, acctSessionId: 'new-3', acctUniqueId: 'u-new-3', delegatedIpv6Prefix: PREFIX }), 60);
    const out = await da.notifySessions({ username: 'carol@isp', action: 'coa', delegatedPrefix: PREFIX });
    assert.equal(out.map((o) => o.result), [oldResult, 'confirmed']);
  });

  test.run();
}

cases('nak');
cases('silent');
