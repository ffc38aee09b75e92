// The username rule of services/radius/sql-escape.ts on FreeRADIUS's PostgreSQL and MariaDB: a real
// FreeRADIUS 3.2 with rlm_sql_postgresql / rlm_sql_mysql looks the NAS's User-Name up as rlm_sql
// escapes it there, the service refuses the unescaped form and serves the escaped one, and on
// MySQL the collation's case-folding holds for escaped usernames too.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer, type SqlServer } from '../support/freeradius.ts';
import { accessRequest } from '../support/radius-client.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';

const TOKEN = 'review11-escape-backends-token-0123';
const BASE = '/api/v1/network/ipv6';

interface Ctx {
  sql: SqlServer;
  peer: FreeRadiusPeer;
  composed: Composed;
  server: Server;
  origin: string;
  dir: string;
}

for (const backend of RADIUS_SQL_SERVERS) {
  const name = `review11: escaped usernames on FreeRADIUS with ${backend.name}`;
  if (!peerAvailable(name) || !backend.available(name)) continue;
  const t = suite<Ctx>(name, {} as Ctx);

  t.before(async (ctx) => {
    ctx.sql = await backend.open();
    ctx.peer = await startFreeRadius({ sql: ctx.sql });
    ctx.dir = mkdtempSync(path.join(tmpdir(), 'review11-escape-backends-'));
    ctx.composed = await compose(
      parseConfig({
        database: path.join(ctx.dir, 'lifecycle.sqlite'),
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
        retry: { attempts: 2, base_ms: 1, max_ms: 5 },
        radius: { sql: ctx.peer.sqlConfig },
      }),
      { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...ctx.peer.env }, overrides: { cpe: null, sessions: null } },
    );
    await ctx.composed.start();
    ctx.server = createServer(ctx.composed.app.callback());
    await new Promise<void>((r) => ctx.server.listen(0, '127.0.0.1', r));
    ctx.origin = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
  });

  t.after(async (ctx) => {
    ctx.server?.closeAllConnections();
    await new Promise<void>((r) => (ctx.server ? ctx.server.close(() => r()) : r()));
    await ctx.composed?.stop();
    await ctx.peer?.stop();
    rmSync(ctx.dir, { recursive: true, force: true });
  });

  const call = async (ctx: Ctx, method: string, p: string, json?: unknown) => {
    const res = await fetch(`${ctx.origin}${BASE}/${p}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');
  const radreply = (ctx: Ctx) => ctx.sql.run('SELECT username, attribute, value FROM radreply ORDER BY id').trim();

  t('FreeRADIUS looks joe+tag@isp up as joe=2Btag@isp (radcheck and radreply)', async (ctx) => {
    ctx.peer.addUser('joe=2Btag@isp', 'pw');
    const a = await ask(ctx, 'joe+tag@isp');
    assert.is(a.code, 'Access-Accept', ctx.peer.log().split('\n').filter((l) => /radcheck|radreply/.test(l)).slice(-4).join('\n'));
    assert.match(ctx.peer.log(), /WHERE username = 'joe=2Btag@isp'/i);
  });

  for (const [username, escaped] of [
    ['joe+tag@isp', 'joe=2Btag@isp'],
    ["o'brien@isp", 'o=27brien@isp'],
    ['a=b@isp', 'a=3Db@isp'],
    ['joe=2btag@isp', 'joe=3D2btag@isp'],
    // =XX that rlm_sql never writes: A is a safe character, and C3 BC is ü, a UTF-8 character that passes whole.
    ['joe=41@isp', 'joeA@isp'],
    ['j=C3=BCrgen@isp', 'jürgen@isp'],
  ] as const) {
    t(`activate {username: ${JSON.stringify(username)}} is 400 naming ${escaped}; nothing is written`, async (ctx) => {
      const id = `sub-${escaped}`;
      assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: id })).status, 201);
      const r = await call(ctx, 'POST', 'activate', { subscriber_id: id, username });
      assert.is(r.status, 400, JSON.stringify(r.body));
      assert.equal([r.body.error.code, r.body.error.field], ['validation_error', 'username']);
      assert.ok(r.body.error.message.includes(escaped), r.body.error.message);
      assert.is(radreply(ctx), '');
    });
  }

  t('an =XX rlm_sql never writes is never read: neither the literal nor the decoded User-Name finds joe=41@isp', async (ctx) => {
    // The premise of the two refusals above, from FreeRADIUS itself.
    ctx.sql.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('joe=41@isp', 'Delegated-IPv6-Prefix', ':=', '2001:db8:ff00::/56')`);
    ctx.peer.addUser('joe=41@isp', 'pw');
    for (const user of ['joe=41@isp', 'joeA@isp']) assert.equal((await ask(ctx, user)).delegated, [], user);
    ctx.sql.run(`DELETE FROM radreply`);
  });

  t('the escaped form activates; FreeRADIUS serves the API prefix to the NAS-side name; revoke withdraws it', async (ctx) => {
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'joe' })).status, 201);
    const r = await call(ctx, 'POST', 'activate', { subscriber_id: 'joe', username: 'joe=2Btag@isp' });
    assert.is(r.status, 200, JSON.stringify(r.body));
    const served = await ask(ctx, 'joe+tag@isp');
    assert.equal([served.code, served.delegated], ['Access-Accept', [r.body.prefix]]);
    assert.is((await call(ctx, 'POST', 'revoke', { subscriber_id: 'joe' })).body.state, 'revoked');
    assert.equal((await ask(ctx, 'joe+tag@isp')).delegated, []);
  });

  t('multi-byte UTF-8 passes unescaped: jürgen@isp activates and is served', async (ctx) => {
    ctx.peer.addUser('jürgen@isp', 'pw');
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'jurgen' })).status, 201);
    const r = await call(ctx, 'POST', 'activate', { subscriber_id: 'jurgen', username: 'jürgen@isp' });
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.equal((await ask(ctx, 'jürgen@isp')).delegated, [r.body.prefix]);
    assert.is((await call(ctx, 'POST', 'revoke', { subscriber_id: 'jurgen' })).body.state, 'revoked');
  });

  t(`an escaped username in another case: ${backend.name === 'MariaDB' ? '409, one radreply user' : 'a user of its own'}`, async (ctx) => {
    ctx.peer.addUser('Ann=2BX@isp', 'pw');
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'ann1' })).status, 201);
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'ann2' })).status, 201);
    const a = await call(ctx, 'POST', 'activate', { subscriber_id: 'ann1', username: 'ann=2Bx@isp' });
    assert.is(a.status, 200, JSON.stringify(a.body));
    const b = await call(ctx, 'POST', 'activate', { subscriber_id: 'ann2', username: 'Ann=2BX@isp' });
    const served = await ask(ctx, 'Ann+X@isp');
    if (backend.name === 'MariaDB') {
      // The collation makes Ann=2BX@isp the radreply user of ann=2Bx@isp: FreeRADIUS serves ann1's prefix.
      assert.is(b.status, 409, JSON.stringify(b.body));
      assert.is(b.body.error.code, 'username_in_use');
      assert.equal(served.delegated, [a.body.prefix]);
    } else {
      assert.is(b.status, 200, JSON.stringify(b.body));
      assert.equal(served.delegated, [b.body.prefix]);
    }
  });

  t.run();
}
