// CoA/Disconnect to the NAS a session's radacct row names, with radreply and radacct on FreeRADIUS's
// PostgreSQL and MariaDB: each NAS is sent its own requests signed with its own secret on its own
// port; a NAS that refuses Disconnect (Error-Cause 405) or never answers is a warning and the
// revocation goes on; then what the audit trail and /metrics say.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SqlServer } from '../support/freeradius.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';
import { startService, type Service } from '../review7/support.ts';

const DISCONNECT = 40;
const NAS_IP_ADDRESS = 4;
const NAS_IPV6_ADDRESS = 95;
const USER_NAME = 1;
const SESSION_ID = 44;

interface Ctx {
  sql: SqlServer;
  a: StandInNas;
  b: StandInNas;
  svc: Service;
}

for (const backend of RADIUS_SQL_SERVERS) {
  const name = `review11: CoA/Disconnect to the sessions' NASes on ${backend.name}`;
  if (!backend.available(name)) continue;
  const t = suite<Ctx>(name, {} as Ctx);

  t.before(async (ctx) => {
    ctx.sql = await backend.open();
    ctx.a = await startStandInNas('secret-of-nas-a', 'udp4');
    ctx.b = await startStandInNas('secret-of-nas-b', 'udp6');
    const s = ctx.sql;
    ctx.svc = await startService(
      () => ({
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
        radius: {
          sql: { backend: s.dialect, host: s.host, port: s.port, database: s.database, user: s.user, password_env: 'RADIUS_DB_PW' },
          dynamic_authorization: {
            timeout_ms: 100,
            retries: 1,
            nas: [
              { address: ctx.a.host, port: ctx.a.port, secret_env: 'NAS_A_SECRET' },
              { address: ctx.b.host, port: ctx.b.port, secret_env: 'NAS_B_SECRET' },
            ],
          },
        },
      }),
      { env: { RADIUS_DB_PW: s.password, NAS_A_SECRET: 'secret-of-nas-a', NAS_B_SECRET: 'secret-of-nas-b' }, overrides: { cpe: null } },
    );
  });

  t.after(async (ctx) => {
    await ctx.svc?.close();
    await ctx.a?.close();
    await ctx.b?.close();
  });

  t.before.each((ctx) => {
    ctx.a.received.length = 0;
    ctx.b.received.length = 0;
    ctx.a.behave = ctx.b.behave = (req) => ({ code: req.code + 1 });
  });

  const session = (ctx: Ctx, id: string, user: string, nas: string) =>
    ctx.sql.run(
      `INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('${id}', 'u-${id}', '${user}', '${nas}', now())`,
    );
  const active = async (ctx: Ctx, id: string) => {
    assert.is((await ctx.svc.post('allocate', { subscriber_id: id })).status, 201);
    const r = await ctx.svc.post('activate', { subscriber_id: id, username: `${id}@isp` });
    assert.is(r.status, 200, r.text);
  };
  const outcomes = async (ctx: Ctx, id: string) => {
    const ev = (await ctx.svc.get(`lifecycle/${id}/events`)).body.events as Array<{ detail: any }>;
    return ev.flatMap((e) => (e.detail?.step === 'radius_sessions' && Array.isArray(e.detail.output) ? e.detail.output : []));
  };
  const counter = async (ctx: Ctx, result: string) => {
    const text = (await ctx.svc.get('/metrics')).text;
    const m = new RegExp(`^ipv6_lifecycle_radius_requests_total\\{[^}]*purpose="revoke"[^}]*action="disconnect"[^}]*result="${result}"[^}]*\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const attr = (r: StandInNas['received'][number], type: number) => r.attributes.find((x) => x.type === type)?.value;

  t('two sessions on two NASes: each NAS gets one Disconnect, with its own secret and the session it holds', async (ctx) => {
    await active(ctx, 'two');
    session(ctx, 'SA1', 'two@isp', ctx.a.host);
    session(ctx, 'SB1', 'two@isp', ctx.b.host);
    const before = await counter(ctx, 'ack');
    const r = await ctx.svc.post('revoke', { subscriber_id: 'two' });
    assert.equal([r.status, r.body.state], [200, 'revoked'], r.text);
    for (const [nas, sid] of [[ctx.a, 'SA1'], [ctx.b, 'SB1']] as const) {
      assert.is(nas.received.length, 1, `${nas.host}: ${nas.received.length} requests`);
      const req = nas.received[0]!;
      assert.equal([req.code, req.valid], [DISCONNECT, true]);
      assert.is(attr(req, SESSION_ID)?.toString(), sid);
      assert.is(attr(req, USER_NAME)?.toString(), 'two@isp');
    }
    assert.ok(attr(ctx.a.received[0]!, NAS_IP_ADDRESS), 'NAS-IP-Address to the IPv4 NAS');
    assert.ok(attr(ctx.b.received[0]!, NAS_IPV6_ADDRESS), 'NAS-IPv6-Address to the IPv6 NAS');
    const o = await outcomes(ctx, 'two');
    assert.equal(
      o.map((x: any) => [x.session_id, x.nas, x.action, x.result]).sort(),
      [['SA1', '127.0.0.1', 'disconnect', 'ack'], ['SB1', '::1', 'disconnect', 'ack']],
    );
    assert.is((await counter(ctx, 'ack')) - before, 2);
  });

  t('a NAS without Disconnect support (NAK 405): a warning, the revocation goes on', async (ctx) => {
    await active(ctx, 'nocoa');
    session(ctx, 'SA2', 'nocoa@isp', ctx.a.host);
    ctx.a.behave = (req) => ({ code: req.code + 2, errorCause: 405 });
    const before = await counter(ctx, 'unsupported');
    const r = await ctx.svc.post('revoke', { subscriber_id: 'nocoa' });
    assert.equal([r.status, r.body.state], [200, 'revoked'], r.text);
    assert.is(ctx.a.received.length, 1);
    const o = await outcomes(ctx, 'nocoa');
    assert.equal(o.map((x: any) => [x.session_id, x.result, x.error_cause]), [['SA2', 'unsupported', 405]]);
    assert.is((await counter(ctx, 'unsupported')) - before, 1);
  });

  t('a NAS that never answers: 1 + retries sends, no_answer, the revocation goes on; the other NAS is served', async (ctx) => {
    await active(ctx, 'silent');
    session(ctx, 'SA3', 'silent@isp', ctx.a.host);
    session(ctx, 'SB3', 'silent@isp', ctx.b.host);
    ctx.a.behave = () => 'drop';
    const before = await counter(ctx, 'no_answer');
    const r = await ctx.svc.post('revoke', { subscriber_id: 'silent' });
    assert.equal([r.status, r.body.state], [200, 'revoked'], r.text);
    assert.is(ctx.a.received.length, 2, 'first send and one retransmission');
    assert.is(ctx.b.received.length, 1);
    const o = await outcomes(ctx, 'silent');
    assert.equal(o.map((x: any) => [x.session_id, x.result, x.attempts]).sort(), [['SA3', 'no_answer', 2], ['SB3', 'ack', 1]]);
    assert.is((await counter(ctx, 'no_answer')) - before, 1);
  });

  t('update to a NAS that NAKs CoA (405): the session is sent a Disconnect instead, with the NAS\'s secret', async (ctx) => {
    await active(ctx, 'upd');
    session(ctx, 'SB4', 'upd@isp', ctx.b.host);
    ctx.b.behave = (req) => (req.code === 43 ? { code: 45, errorCause: 405 } : { code: req.code + 1 });
    const r = await ctx.svc.post('update', { subscriber_id: 'upd' });
    assert.is(r.status, 200, r.text);
    assert.equal(ctx.b.received.map((x) => [x.code, x.valid]), [[43, true], [DISCONNECT, true]]);
    assert.equal((await outcomes(ctx, 'upd')).map((x: any) => [x.session_id, x.action, x.result]), [['SB4', 'disconnect', 'ack']]);
  });

  t.run();
}
