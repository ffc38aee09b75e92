// The username rule of services/radius/sql-escape.ts on FreeRADIUS's PostgreSQL and MariaDB: a real
// FreeRADIUS 3.2 with rlm_sql_postgresql / rlm_sql_mysql looks the NAS's User-Name up as rlm_sql
// escapes it there, the service refuses the unescaped form and serves the escaped one, and on
// MySQL the collation's case-folding holds for escaped usernames too.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer, type SqlServer } from '../support/freeradius.ts';
import { accessRequest } from '../support/radius-client.ts';
import { serveWithRadius, type Served } from './radius-served.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';

const TOKEN = 'review11-escape-backends-token-0123';

interface Ctx {
  sql: SqlServer;
  peer: FreeRadiusPeer;
  served: Served;
}

for (const backend of RADIUS_SQL_SERVERS) {
  const name = `review11: escaped usernames on FreeRADIUS with ${backend.name}`;
  if (!peerAvailable(name) || !backend.available(name)) continue;
  const t = suite<Ctx>(name, {} as Ctx);

  t.before(async (ctx) => {
    ctx.sql = await backend.open();
    ctx.peer = await startFreeRadius({ sql: ctx.sql });
    ctx.served = await serveWithRadius(TOKEN, { sql: ctx.peer.sqlConfig }, { env: ctx.peer.env });
  });

  t.after(async (ctx) => {
    await ctx.served?.stop();
    await ctx.peer?.stop();
  });

  const call = (ctx: Ctx, method: string, p: string, json?: unknown) => ctx.served.call(method, p, json);
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
