// With `radius.reply.framed_prefix: first64` the WAN /64 is the first /64 of the delegation, so a
// /64 delegation has no room for it. The service used to accept such an allocation (201) and then
// fail the subscriber at activate with a 502 "upstream_unavailable … POST /retry resumes it" that no
// retry can cure. An ISP engineer must be told at the request that names the length (400, field
// prefix_length, nothing held), and at start-up when a pool hands out /64 by default.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../config.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { accessRequest } from '../support/radius-client.ts';
import { serveWithRadius, type Served } from './radius-served.ts';

const TOKEN = 'review11-first64-token-0123456789';
const POOL = { name: 'residential', prefix: '2001:db8::/48', prefix_length: 56 };

interface Ctx {
  peer: FreeRadiusPeer;
  served: Served;
}

const config = { pools: [POOL], reply: { framed_prefix: 'first64' } };

const cfg = suite('review11: first64 in the configuration');
cfg('a pool whose default length is /64 is refused with framed_prefix first64, naming the key', () => {
  const input = { pools: [{ ...POOL, prefix_length: 64 }], radius: { sql: { path: '/nonexistent/radius.sqlite' }, reply: { framed_prefix: 'first64' } } };
  assert.throws(() => parseConfig(input), (err: Error) => /pools\.0\.prefix_length/.test(err.message) && /first64/.test(err.message));
  assert.not.throws(() => parseConfig({ ...input, radius: { ...input.radius, reply: { framed_prefix: 'given' } } }));
});

cfg.run();

if (peerAvailable('review11: first64 and a /64 delegation')) {
  const t = suite<Ctx>('review11: first64 and a /64 delegation', {} as Ctx);

  t.before(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.served = await serveWithRadius(TOKEN, { sql: ctx.peer.sqlConfig, reply: config.reply }, { pools: config.pools });
    ctx.peer.addUser('u60', 'pw');
    ctx.peer.addUser('u64', 'pw');
  });

  t.after(async (ctx) => {
    await ctx.served?.stop();
    await ctx.peer?.stop();
  });

  const call = (ctx: Ctx, method: string, p: string, json?: unknown) => ctx.served.call(method, p, json);
  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');

  t('POST /allocate {prefix_length: 64} is 400 naming prefix_length, and holds nothing', async (ctx) => {
    const before = (await call(ctx, 'GET', 'metrics')).body.pools[0].allocated;
    const r = await call(ctx, 'POST', 'allocate', { subscriber_id: 's64', prefix_length: 64 });
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.is(r.body.error.code, 'validation_error');
    assert.is(r.body.error.field, 'prefix_length');
    assert.match(r.body.error.message, /first64/);
    assert.is((await call(ctx, 'GET', 'lifecycle/s64')).status, 404, 'no lifecycle was created');
    assert.is((await call(ctx, 'GET', 'metrics')).body.pools[0].allocated, before, 'no prefix is held');
  });

  t('a /60 still activates, and FreeRADIUS serves the delegation and its first /64', async (ctx) => {
    const a = await call(ctx, 'POST', 'allocate', { subscriber_id: 's60', prefix_length: 60 });
    assert.is(a.status, 201, JSON.stringify(a.body));
    const act = await call(ctx, 'POST', 'activate', { subscriber_id: 's60', username: 'u60' });
    assert.is(act.status, 200, JSON.stringify(act.body));
    const served = await ask(ctx, 'u60');
    assert.equal([served.code, served.delegated, served.framed], ['Access-Accept', [a.body.prefix], [a.body.prefix.replace('/60', '/64')]]);
  });

  t('POST /update {prefix_length: 64} is 400 naming prefix_length; the subscriber keeps its prefix in RADIUS', async (ctx) => {
    const before = (await call(ctx, 'GET', 'lifecycle/s60')).body;
    const r = await call(ctx, 'POST', 'update', { subscriber_id: 's60', prefix_length: 64 });
    assert.is(r.status, 400, JSON.stringify(r.body));
    assert.is(r.body.error.field, 'prefix_length');
    const after = (await call(ctx, 'GET', 'lifecycle/s60')).body;
    assert.equal([after.state, after.prefix, after.failure], ['active', before.prefix, null]);
    assert.equal((await ask(ctx, 'u60')).delegated, [before.prefix]);
  });

  t.run();
}
