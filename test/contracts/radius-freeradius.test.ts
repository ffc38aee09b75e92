// Both RADIUS ports against a real FreeRADIUS 3.2: the AAA side reads our radreply rows, the
// accounting side writes the radacct rows we read, and its coa-nas virtual server is the NAS.
import { createSocket } from 'node:dgram';
import { Writable } from 'node:stream';
import pino from 'pino';
import radius from 'radius';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema, type RadiusConfig } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import { openRadiusReplies, type ClosableReplyPort } from '../../services/radius/backends.ts';
import { createRadiusReplyStore } from '../../services/radius/reply-store.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer, type SqlServer } from '../support/freeradius.ts';
import { mariadbAvailable, mariadbForFreeRadius } from '../support/mariadb.ts';
import { postgresForFreeRadius, radiusPostgresAvailable } from '../support/radius-postgres.ts';
import { accessRequest, accounting, roundTrip } from '../support/radius-client.ts';

interface Ctx {
  peer: FreeRadiusPeer;
  cfg: RadiusConfig;
  store: ClosableReplyPort;
  logs: string[];
  log: pino.Logger;
  das: { close(): void | Promise<void> }[];
}

/** The lines FreeRADIUS printed for the `kind` request (e.g. Disconnect-Request) that carried `needle`. */
function requestBlock(debugLog: string, kind: string, needle: string): string[] {
  const lines = debugLog.split('\n');
  const tags = new Set(lines.filter((l) => l.includes(needle)).map((l) => /^\(\d+\) /.exec(l)?.[0]).filter((t) => t !== undefined));
  for (const tag of tags) {
    const block = lines.filter((l) => l.startsWith(tag));
    if (block.some((l) => l.startsWith(`${tag}Received ${kind} `))) return block;
  }
  return [];
}

/** The suite against FreeRADIUS reading the SQLite file, or a SQL server through rlm_sql_<dialect>. */
function againstFreeRadius(name: string, sqlServer?: () => Promise<SqlServer>): void {
  const test = suite<Ctx>(name, {} as Ctx);
  test.before(async (ctx) => {
    ctx.peer = await startFreeRadius({ sql: sqlServer ? await sqlServer() : undefined });
    ctx.logs = [];
    ctx.log = pino({ level: 'debug' }, new Writable({ write: (c, _e, cb) => (ctx.logs.push(String(c)), cb()) }));
    ctx.cfg = radiusConfigSchema.parse({
      sql: ctx.peer.sqlConfig,
      // The port's own Framed-IPv6-Prefix handling (the default, none, leaves it to the ISP).
      reply: { framed_prefix: 'given' },
      dynamic_authorization: {
        timeout_ms: 50,
        retries: 2,
        default_secret_env: 'TEST_COA_SECRET',
        nas: [{ address: '127.0.0.1', port: ctx.peer.ports.coa }],
      },
    });
    // The in-process store for SQLite (as before), the pooled client for a server, as compose() opens it.
    ctx.store = ctx.cfg.sql.backend === 'sqlite' ? createRadiusReplyStore(ctx.cfg, ctx.log) : await openRadiusReplies(ctx.cfg, ctx.log, ctx.peer.env);
    ctx.das = [];
  });
  test.after(async (ctx) => {
    await ctx.store?.close();
    for (const da of ctx.das ?? []) await da.close();
    await ctx.peer?.stop();
    assert.not.ok(ctx.logs.some((l) => l.includes(ctx.peer.secret)), 'a log line carried the secret');
    for (const v of Object.values(ctx.peer?.env ?? {})) assert.not.ok(ctx.logs.some((l) => l.includes(v)), 'a log line carried the database password');
  });
  const dynauth = (ctx: Ctx, cfg = ctx.cfg) => {
    const da = createDynamicAuthorization(cfg, ctx.log, { env: { TEST_COA_SECRET: ctx.peer.secret, ...ctx.peer.env } });
    ctx.das.push(da);
    return da;
  };
  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');

  test('after writeReply an Access-Accept carries Delegated-IPv6-Prefix equal to the prefix', async (ctx) => {
    ctx.peer.addUser('pd-write', 'pw');
    const before = await ask(ctx, 'pd-write');
    assert.is(before.code, 'Access-Accept');
    assert.equal(before.delegated, []);
    await ctx.store.writeReply({ username: 'pd-write', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    const after = await ask(ctx, 'pd-write');
    assert.equal(after.delegated, ['2001:db8:100::/56']);
    assert.equal(after.framed, ['2001:db8:ffff:1::/64']);
    // FreeRADIUS's own rendering agrees with our decoder.
    await ctx.peer.waitForLog(/Sent Access-Accept[^\n]*\n(?:\(\d+\)[^\n]*\n)*?\(\d+\)\s+Delegated-IPv6-Prefix = 2001:db8:100::\/56/);
  });

  test('after removeReply the Access-Accept carries no prefix', async (ctx) => {
    ctx.peer.addUser('pd-remove', 'pw');
    await ctx.store.writeReply({ username: 'pd-remove', delegatedPrefix: '2001:db8:200::/56', framedPrefix: null });
    assert.equal((await ask(ctx, 'pd-remove')).delegated, ['2001:db8:200::/56']);
    await ctx.store.removeReply({ username: 'pd-remove' });
    const after = await ask(ctx, 'pd-remove');
    assert.is(after.code, 'Access-Accept');
    assert.equal(after.delegated, []);
    assert.equal(after.framed, []);
  });

  test('after a rewrite with a new prefix the Access-Accept carries only the new one', async (ctx) => {
    ctx.peer.addUser('pd-update', 'pw');
    await ctx.store.writeReply({ username: 'pd-update', delegatedPrefix: '2001:db8:300::/56', framedPrefix: '2001:db8:ffff:3::/64' });
    await ctx.store.writeReply({ username: 'pd-update', delegatedPrefix: '2001:db8:400::/56', framedPrefix: '2001:db8:ffff:4::/64' });
    const after = await ask(ctx, 'pd-update');
    assert.equal(after.delegated, ['2001:db8:400::/56']);
    assert.equal(after.framed, ['2001:db8:ffff:4::/64']);
  });

  test("notifySessions('disconnect') reaches the NAS with the session's identifiers and a Message-Authenticator it accepts", async (ctx) => {
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'pd-revoke', sessionId: 'acct-revoke-77', nasIp: '127.0.0.1' });
    const out = await dynauth(ctx).notifySessions({ username: 'pd-revoke', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'acct-revoke-77', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
    await ctx.peer.waitForLog(/Sent Disconnect-ACK/);
    const block = requestBlock(ctx.peer.log(), 'Disconnect-Request', 'Acct-Session-Id = "acct-revoke-77"').join('\n');
    assert.match(block, /Received Disconnect-Request Id \d+ from 127\.0\.0\.1/);
    assert.match(block, /User-Name = "pd-revoke"/);
    assert.match(block, /NAS-IP-Address = 127\.0\.0\.1/);
    assert.match(block, /Message-Authenticator = 0x[0-9a-f]{32}/);
    assert.match(block, /Sent Disconnect-ACK/);
  });

  test("control: the radius package's own Message-Authenticator is dropped by this FreeRADIUS, so an ACK proves ours valid", async (ctx) => {
    const theirs = radius.encode({
      code: 'Disconnect-Request',
      identifier: 201,
      secret: ctx.peer.secret,
      attributes: [['User-Name', 'pd-control'], ['Acct-Session-Id', 'acct-control'], ['NAS-IP-Address', '127.0.0.1']],
      add_message_authenticator: true,
    });
    await roundTrip(ctx.peer.host, ctx.peer.ports.coa, theirs, 500).then(
      () => assert.unreachable('FreeRADIUS answered a badly signed request'),
      (e: Error) => assert.match(e.message, /no answer/),
    );
    await ctx.peer.waitForLog(/Received packet from 127\.0\.0\.1 with invalid Message-Authenticator/);
  });

  test('a NAK user gets the NAK recorded as not_found (Error-Cause 503)', async (ctx) => {
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'nak-carol', sessionId: 'acct-nak-1', nasIp: '127.0.0.1' });
    const out = await dynauth(ctx).notifySessions({ username: 'nak-carol', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'acct-nak-1', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'not_found', errorCause: 503 }]);
    assert.match(requestBlock(ctx.peer.log(), 'Disconnect-Request', 'Acct-Session-Id = "acct-nak-1"').join('\n'), /Sent Disconnect-NAK/);
  });

  test('a NAS port with nothing listening gives no_answer after the retransmits, logged as a warning', async (ctx) => {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const deadPort = s.address().port;
    s.close();
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'pd-silent', sessionId: 'acct-silent-1', nasIp: '127.0.0.1' });
    const cfg = radiusConfigSchema.parse({ ...ctx.cfg, dynamic_authorization: { ...ctx.cfg.dynamic_authorization, nas: [{ address: '127.0.0.1', port: deadPort }] } });
    const out = await dynauth(ctx, cfg).notifySessions({ username: 'pd-silent', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'acct-silent-1', nas: '127.0.0.1', action: 'disconnect', attempts: 3, result: 'no_answer', errorCause: null }]);
    const warning = ctx.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'NAS did not answer the dynamic authorization request' && l.session_id === 'acct-silent-1');
    assert.ok(warning, 'warning logged');
    assert.is(warning.level, 40);
    assert.equal([warning.nas, warning.port, warning.attempts], ['127.0.0.1', deadPort, 3]);
  });

  test('a CoA-Request carries Delegated-IPv6-Prefix that FreeRADIUS decodes, in the full and the truncated form', async (ctx) => {
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'pd-coa', sessionId: 'acct-coa-1', nasIp: '127.0.0.1' });
    for (const [form, prefix] of [['full', '2001:db8:500::/56'], ['truncated', '2001:db8:600::/56']] as const) {
      const cfg = radiusConfigSchema.parse({ ...ctx.cfg, dynamic_authorization: { ...ctx.cfg.dynamic_authorization, action: 'coa', prefix_encoding: form } });
      const out = await dynauth(ctx, cfg).notifySessions({ username: 'pd-coa', action: 'coa', delegatedPrefix: prefix });
      assert.equal(out.map((o) => [o.action, o.result]), [['coa', 'ack']], form);
      await ctx.peer.waitForLog(new RegExp(`Delegated-IPv6-Prefix = ${prefix.replace(/[/.]/g, '\\$&')}`));
    }
  });

  // Verified dynamic authorization: the stand-in NAS ACKs everything; accounting tells what happened.
  const confirming = (ctx: Ctx) =>
    radiusConfigSchema.parse({ ...ctx.cfg, dynamic_authorization: { ...ctx.cfg.dynamic_authorization, confirm_window_ms: 1500, confirm_poll_ms: 50 } });
  /** Acts as the NAS would after its ACK: sends `then` once FreeRADIUS has sent the ACK for `sessionId`. */
  const afterAck = async (ctx: Ctx, kind: 'Disconnect' | 'CoA', sessionId: string, then: () => Promise<void>) => {
    const deadline = Date.now() + 3000;
    while (!requestBlock(ctx.peer.log(), `${kind}-Request`, `Acct-Session-Id = "${sessionId}"`).some((l) => l.includes(`Sent ${kind}-ACK`))) {
      if (Date.now() > deadline) throw new Error(`no ${kind}-ACK for ${sessionId}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await then();
  };

  test('a Disconnect ACKed and then stopped in accounting is confirmed', async (ctx) => {
    const s = { username: 'pd-confirm', sessionId: 'acct-confirm-1', nasIp: '127.0.0.1' };
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', ...s });
    const [out] = await Promise.all([
      dynauth(ctx, confirming(ctx)).notifySessions({ username: s.username, action: 'disconnect', delegatedPrefix: null }),
      afterAck(ctx, 'Disconnect', s.sessionId, () => accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Stop', ...s })),
    ]);
    assert.equal(out.map((o) => [o.sessionId, o.action, o.result]), [[s.sessionId, 'disconnect', 'confirmed']]);
  });

  test('a Disconnect ACKed but never stopped in accounting is acked_unconfirmed, with a warning', async (ctx) => {
    const s = { username: 'pd-ignored', sessionId: 'acct-ignored-1', nasIp: '127.0.0.1' };
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', ...s });
    const out = await dynauth(ctx, confirming(ctx)).notifySessions({ username: s.username, action: 'disconnect', delegatedPrefix: null });
    assert.equal(out.map((o) => o.result), ['acked_unconfirmed']);
    const warning = ctx.logs.map((l) => JSON.parse(l)).find((l) => l.session_id === s.sessionId && /radacct still shows the session open/.test(l.msg));
    assert.ok(warning, 'warning logged');
    assert.is(warning.level, 40);
  });

  test('a CoA moving the prefix is confirmed by an Interim-Update carrying the new Delegated-IPv6-Prefix, not before', async (ctx) => {
    const s = { username: 'pd-coa-confirm', sessionId: 'acct-coa-confirm', nasIp: '127.0.0.1' };
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', ...s, delegatedPrefix: '2001:db8:800::/56' });
    const coa = confirming(ctx);
    const stale = await dynauth(ctx, coa).notifySessions({ username: s.username, action: 'coa', delegatedPrefix: '2001:db8:900::/56' });
    assert.equal(stale.map((o) => o.result), ['acked_unconfirmed']);
    const [out] = await Promise.all([
      dynauth(ctx, coa).notifySessions({ username: s.username, action: 'coa', delegatedPrefix: '2001:db8:900::/56' }),
      afterAck(ctx, 'CoA', s.sessionId, () =>
        accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Interim-Update', ...s, delegatedPrefix: '2001:db8:900::/56' }),
      ),
    ]);
    assert.equal(out.map((o) => [o.action, o.result]), [['coa', 'confirmed']]);
  });

  test('revoke as the core runs it: removeReply, then notifySessions(disconnect); the next Access-Request gets no prefix', async (ctx) => {
    ctx.peer.addUser('pd-story', 'pw');
    await ctx.store.writeReply({ username: 'pd-story', delegatedPrefix: '2001:db8:700::/56', framedPrefix: null });
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'pd-story', sessionId: 'acct-story', nasIp: '127.0.0.1' });
    assert.equal((await ask(ctx, 'pd-story')).delegated, ['2001:db8:700::/56']);
    await ctx.store.removeReply({ username: 'pd-story' });
    const out = await dynauth(ctx).notifySessions({ username: 'pd-story', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out.map((o) => o.result), ['ack']);
    assert.equal((await ask(ctx, 'pd-story')).delegated, []);
  });

  test.run();
}

if (peerAvailable('RADIUS ports against FreeRADIUS')) againstFreeRadius('RADIUS ports against FreeRADIUS');
if (peerAvailable('RADIUS ports against FreeRADIUS on MariaDB') && mariadbAvailable('RADIUS ports against FreeRADIUS on MariaDB')) {
  againstFreeRadius('RADIUS ports against FreeRADIUS on MariaDB (rlm_sql_mysql)', mariadbForFreeRadius);
}
if (peerAvailable('RADIUS ports against FreeRADIUS on PostgreSQL') && radiusPostgresAvailable('RADIUS ports against FreeRADIUS on PostgreSQL')) {
  againstFreeRadius('RADIUS ports against FreeRADIUS on PostgreSQL (rlm_sql_postgresql)', postgresForFreeRadius);
}
