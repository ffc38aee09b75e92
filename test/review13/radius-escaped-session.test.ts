// radacct holds what rlm_sql wrote: the NAS's User-Name joe+tag@isp and Acct-Session-Id S+1#a as
// joe=2Btag@isp and S=2B1=23a (sql_escape_func). The NAS knows the session by its own octets, so a
// Disconnect or CoA naming the stored form matches no session there (NAK 503, taken as "already
// gone") while the session keeps its prefix. The requests must carry the octets the NAS sent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import Database from 'better-sqlite3';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { accounting } from '../support/radius-client.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';

const USER_NAME = 1;
const ACCT_SESSION_ID = 44;
const name = 'review13: CoA/Disconnect name a session as the NAS does, not as radacct escapes it';

interface Ctx {
  peer: FreeRadiusPeer;
  nas: StandInNas;
}

if (peerAvailable(name)) {
  const t = suite<Ctx>(name, {} as Ctx);

  t.before(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.nas = await startStandInNas('review13-nas-secret', 'udp4');
  });

  t.after(async (ctx) => {
    await ctx.nas?.close();
    await ctx.peer?.stop();
  });

  const notify = async (ctx: Ctx, username: string, action: 'disconnect' | 'coa') => {
    const config = radiusConfigSchema.parse({
      sql: ctx.peer.sqlConfig,
      dynamic_authorization: { timeout_ms: 300, retries: 0, nas: [{ address: ctx.nas.host, port: ctx.nas.port, secret: 'review13-nas-secret' }] },
    });
    const da = createDynamicAuthorization(config, pino({ level: 'silent' }), { env: ctx.peer.env });
    try {
      return await da.notifySessions({ username, action, delegatedPrefix: action === 'coa' ? '2001:db8:100::/56' : null });
    } finally {
      await da.close();
    }
  };

  for (const action of ['disconnect', 'coa'] as const) {
    t(`${action}: the NAS gets User-Name joe+tag@isp and Acct-Session-Id S+1#a, as it sent them`, async (ctx) => {
      const sessionId = `S+1#a-${action}`;
      const user = `joe+${action}@isp`;
      await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: user, sessionId, nasIp: ctx.nas.host });
      const db = new Database(ctx.peer.dbPath, { readonly: true });
      const stored = db.prepare('SELECT username, acctsessionid FROM radacct WHERE acctstoptime IS NULL ORDER BY radacctid DESC LIMIT 1').get();
      db.close();
      // The premise, from FreeRADIUS itself: radacct holds the escaped form.
      assert.equal(stored, { username: `joe=2B${action}@isp`, acctsessionid: `S=2B1=23a-${action}` });
      ctx.nas.received.length = 0;
      const outcomes = await notify(ctx, `joe=2B${action}@isp`, action);
      assert.equal(outcomes.map((o) => [o.sessionId, o.result]), [[`S=2B1=23a-${action}`, 'ack']]);
      assert.is(ctx.nas.received.length, 1);
      const attr = (type: number) => ctx.nas.received[0]!.attributes.find((a) => a.type === type)?.value.toString('latin1');
      assert.equal([attr(USER_NAME), attr(ACCT_SESSION_ID)], [user, sessionId]);
    });
  }

  t.run();
}
