// Idempotency-Key over the PostgreSQL store (issue 11): the service notes a keyed operation's
// acceptance synchronously, the write is asynchronous, and the answer waits for it to land.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { idempotency, keyedRequest } from '../../http/idempotency.ts';
import { openPostgresStore } from '../../store/postgresql/store.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('http Idempotency-Key on PostgreSQL');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

test('an acceptance noted just before a 202 has landed when the client reads it; a final answer replays from PostgreSQL', async () => {
  if (!postgresAvailable('Idempotency-Key on PostgreSQL')) return;
  cluster = await startPostgres();
  const store = await openPostgresStore({ url: await cluster.createDatabase('idempotency'), max: 4 });
  // A slow write: without the middleware's wait the 202 would be out long before it landed.
  const slow = { ...store.idempotency, accept: async (...a: Parameters<typeof store.idempotency.accept>) => {
    await new Promise((r) => setTimeout(r, 150));
    return store.idempotency.accept(...a);
  } };
  let runs = 0;
  const app = new Koa();
  app.use(idempotency({ store: slow, ttlSeconds: 3600, location: () => null }));
  app.use(async (ctx) => {
    runs++;
    // As the lifecycle service does: synchronously, just before it sends the event.
    keyedRequest(ctx)!.ticket.accepted({ lifecycleId: 'lc-1', mark: 3 });
    ctx.status = ctx.path === '/slow' ? 202 : 201;
    ctx.body = { lifecycle_id: 'lc-1' };
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const post = (path: string, key: string) => fetch(`${base}${path}`, { method: 'POST', headers: { 'Idempotency-Key': key } });
  try {
    const accepted = await post('/slow', 'key-202');
    assert.is(accepted.status, 202);
    const pending = await store.idempotency.get('key-202');
    assert.equal([pending?.state, pending?.accepted], ['pending', { lifecycleId: 'lc-1', mark: 3 }]);

    const created = await post('/fast', 'key-201');
    assert.is(created.status, 201);
    const replay = await post('/fast', 'key-201');
    assert.equal([replay.status, replay.headers.get('idempotent-replayed'), await replay.json()], [201, 'true', { lifecycle_id: 'lc-1' }]);
    assert.is(runs, 2, 'the replay ran nothing');
    assert.equal((await store.idempotency.get('key-201'))?.state, 'final');
  } finally {
    server.close();
    await store.close();
  }
});

test.run();
