// FreeRADIUS's rlm_sql escapes the User-Name before it looks it up: every byte outside its
// `safe_characters` (letters, digits and "@.-_: /" by default; multi-byte UTF-8 passes) becomes
// =XX, so an Access-Request of joe+tag@isp reads the radreply rows of joe=2Btag@isp. The service
// used to answer 200 `active` to an activate of joe+tag@isp and write radreply rows that
// FreeRADIUS never reads: the subscriber got no prefix. Such a username is now a 400 naming
// `username` and the form radreply must hold; that form activates, and FreeRADIUS serves it.
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { accessRequest } from '../support/radius-client.ts';
import { serveWithRadius, type Served } from './radius-served.ts';

const TOKEN = 'review11-escape-token-0123456789';

interface Ctx {
  peer: FreeRadiusPeer;
  served: Served;
}

if (peerAvailable('review11: usernames FreeRADIUS escapes')) {
  const t = suite<Ctx>('review11: usernames FreeRADIUS escapes', {} as Ctx);

  t.before(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.served = await serveWithRadius(TOKEN, { sql: ctx.peer.sqlConfig });
  });

  t.after(async (ctx) => {
    await ctx.served?.stop();
    await ctx.peer?.stop();
  });

  const call = (ctx: Ctx, method: string, p: string, json?: unknown) => ctx.served.call(method, p, json);
  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');
  const radreply = (ctx: Ctx) => {
    const db = new Database(ctx.peer.dbPath, { readonly: true });
    try {
      return db.prepare('SELECT username, attribute, value FROM radreply ORDER BY id').all();
    } finally {
      db.close();
    }
  };

  t('FreeRADIUS reads the escaped form: joe+tag@isp finds the rows of joe=2Btag@isp', async (ctx) => {
    // The premise, from FreeRADIUS itself: radcheck and radreply are looked up escaped.
    ctx.peer.addUser('joe=2Btag@isp', 'pw');
    assert.is((await ask(ctx, 'joe+tag@isp')).code, 'Access-Accept');
  });

  for (const [username, escaped] of [
    ['joe+tag@isp', 'joe=2Btag@isp'],
    ["o'brien@isp", 'o=27brien@isp'],
    ['a=b@isp', 'a=3Db@isp'],
  ] as const) {
    t(`activate {username: ${JSON.stringify(username)}} is 400 naming username and ${escaped}; nothing is written`, async (ctx) => {
      const id = `sub-${escaped}`;
      assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: id })).status, 201);
      const r = await call(ctx, 'POST', 'activate', { subscriber_id: id, username });
      assert.is(r.status, 400, JSON.stringify(r.body));
      assert.equal([r.body.error.code, r.body.error.field], ['validation_error', 'username']);
      assert.ok(r.body.error.message.includes(escaped), r.body.error.message);
      assert.is((await call(ctx, 'GET', `lifecycle/${encodeURIComponent(id)}`)).body.state, 'allocated');
      assert.equal(radreply(ctx), []);
    });
  }

  t('the escaped form activates; FreeRADIUS serves exactly the API prefix, and nothing after revoke', async (ctx) => {
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'joe' })).status, 201);
    const r = await call(ctx, 'POST', 'activate', { subscriber_id: 'joe', username: 'joe=2Btag@isp' });
    assert.is(r.status, 200, JSON.stringify(r.body));
    const served = await ask(ctx, 'joe+tag@isp');
    assert.equal([served.code, served.delegated], ['Access-Accept', [r.body.prefix]]);
    assert.is((await call(ctx, 'POST', 'revoke', { subscriber_id: 'joe' })).body.state, 'revoked');
    assert.equal((await ask(ctx, 'joe+tag@isp')).delegated, []);
  });

  t('multi-byte UTF-8 passes FreeRADIUS unescaped, so jürgen@isp activates and is served', async (ctx) => {
    ctx.peer.addUser('jürgen@isp', 'pw');
    assert.is((await call(ctx, 'POST', 'allocate', { subscriber_id: 'jurgen' })).status, 201);
    const r = await call(ctx, 'POST', 'activate', { subscriber_id: 'jurgen', username: 'jürgen@isp' });
    assert.is(r.status, 200, JSON.stringify(r.body));
    assert.equal((await ask(ctx, 'jürgen@isp')).delegated, [r.body.prefix]);
  });

  t.run();
}
