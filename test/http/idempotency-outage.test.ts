// Idempotency-Key across two instances on one PostgreSQL when the server is SIGKILLed under a keyed
// request (task hang7, from test/e2e/instances-review-outages.test.ts): the request that had begun the key
// answers 503 and cannot forget the key (the server is gone); once the server is back, a replay on
// the other instance must get through, not follow for ever a key its live owner no longer runs.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { errorFunnel } from '../../http/errors.ts';
import { idempotency, keyedRequest, requestHash } from '../../http/idempotency.ts';
import { openPostgresStore } from '../../store/postgresql/store.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('http Idempotency-Key on PostgreSQL killed mid-request');
let cluster: PgCluster | null = null;
const clusters: PgCluster[] = [];
const servers: Server[] = [];
const stores: { close(): Promise<void> }[] = [];
test.after(async () => {
  for (const s of servers) s.closeAllConnections(), s.close();
  for (const s of stores) await s.close().catch(() => undefined);
  for (const c of clusters) await c.stop();
});

type Store = Awaited<ReturnType<typeof openPostgresStore>>;
/** What the next request meets: the server killed under it, after (`accept`) or before its operation was accepted. */
type On = { kill: boolean; accept: boolean; runs: number };

/**
 * One instance: the middleware on its own pool, named `owner`, every other instance alive. The
 * route stands in for the operations route: `kill` makes the next request's operation meet the
 * server SIGKILLed; a replay that follows another instance and has no lifecycle to show waits for
 * the outcome (as LifecycleService's `#within` does when nothing is on disk).
 */
async function instance(owner: string, store: Store, on: On) {
  const app = new Koa();
  app.use(errorFunnel());
  app.use(idempotency({ store: store.idempotency, ttlSeconds: 3600, location: () => null, instances: { owner, alive: async () => true } }));
  app.use(async (ctx) => {
    const keyed = keyedRequest(ctx)!;
    if (keyed.running) {
      ctx.body = (await keyed.running).lifecycle;
      return;
    }
    if (keyed.ticket.resume) {
      // Run again from the note (LifecycleService's `#resumed`): its event is on disk, nothing is sent twice.
      ctx.status = 201;
      ctx.body = { subscriber_id: 'sub-1', by: owner, resumed: keyed.ticket.resume };
      return;
    }
    if (on.kill) {
      on.kill = false;
      // As the service does, synchronously, just before it sends the event; its write races the kill.
      if (on.accept) keyed.ticket.accepted({ lifecycleId: 'lc-1', mark: 0 });
      cluster!.kill();
      // Its backends orphaned, each idle connection of the pool ends as its backend notices; then nothing answers.
      while (store.pool.totalCount > 0) await once(store.pool, 'remove');
      await store.pool.query('SELECT 1');
    }
    on.runs++;
    ctx.status = 201;
    ctx.body = { subscriber_id: 'sub-1', by: owner };
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // Bounded here, so that a hang fails the test instead of holding it.
  return async (key: string, wait: number) => {
    const t0 = Date.now();
    const res = await fetch(`${base}/allocate?wait=${wait}`, {
      method: 'POST',
      headers: { 'Idempotency-Key': key },
      signal: AbortSignal.timeout(wait + 8000),
    }).catch((e: Error) => ({ status: 0, headers: new Headers(), json: async () => ({ error: e.message }) }));
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any, ms: Date.now() - t0 };
  };
}

async function rig() {
  // Durable (the harness's default is fsync and synchronous_commit off): the SIGKILL must not take the key's begin with it.
  cluster = await startPostgres({}, { durable: true });
  clusters.push(cluster);
  const url = await cluster.createDatabase('outage');
  const [a, b] = [await openPostgresStore({ url, max: 2 }), await openPostgresStore({ url, max: 2 })];
  stores.push(a, b);
  const on: On = { kill: false, accept: false, runs: 0 };
  return { a, b, on, postA: await instance('instance-a', a, on), postB: await instance('instance-b', b, on) };
}

test('a keyed request begun on a, the server SIGKILLed under it → 503 with Retry-After; restarted, the replay on b runs it (201), once, in its wait', async () => {
  if (!postgresAvailable('Idempotency-Key on PostgreSQL killed mid-request')) return;
  const { a, postA, postB, on } = await rig();
  on.kill = true;
  const first = await postA('k-killed', 3000);
  assert.equal([first.status, first.body.error?.code, first.retryAfter], [503, 'unavailable', '1'], JSON.stringify(first.body));
  await cluster!.restart();
  // Instance a is alive throughout: only it can let the key go, and it does once the server is back.
  const replay = await postB('k-killed', 3000);
  assert.equal([replay.status, replay.body.by], [201, 'instance-b'], `answered ${replay.status} after ${replay.ms} ms: ${JSON.stringify(replay.body)}`);
  assert.is(on.runs, 1, 'run once');
  assert.equal([(await a.idempotency.get('k-killed'))?.state, (await a.idempotency.get('k-killed'))?.status], ['final', 201]);
});

test('the same, the operation accepted before the kill → 503; restarted, the replay on b runs it again from the note (201, not a second run)', async () => {
  if (!postgresAvailable('Idempotency-Key on PostgreSQL killed mid-request')) return;
  const { a, postA, postB, on } = await rig();
  Object.assign(on, { kill: true, accept: true });
  const first = await postA('k-accepted', 3000);
  assert.equal([first.status, first.body.error?.code], [503, 'unavailable'], JSON.stringify(first.body));
  await cluster!.restart();
  const replay = await postB('k-accepted', 3000);
  assert.equal([replay.status, replay.body.by, replay.body.resumed], [201, 'instance-b', { lifecycleId: 'lc-1', mark: 0 }], `answered ${replay.status} after ${replay.ms} ms: ${JSON.stringify(replay.body)}`);
  assert.is(on.runs, 0, 'never run from scratch');
  assert.is((await a.idempotency.get('k-accepted'))?.status, 201);
});

test('a pending key its live owner never answers (frozen, say) → the replay elsewhere answers 503 shortly after its wait, never hangs', async () => {
  if (!postgresAvailable('Idempotency-Key on PostgreSQL killed mid-request')) return;
  const { a, postB } = await rig();
  await a.idempotency.begin('k-held', requestHash('POST', '/allocate', {}), 'instance-a');
  const replay = await postB('k-held', 300);
  assert.equal([replay.status, replay.body.error?.code, replay.retryAfter], [503, 'unavailable', '1'], JSON.stringify(replay.body));
  assert.ok(replay.ms < 300 + 3000, `answered after ${replay.ms} ms`);
  assert.is((await a.idempotency.get('k-held'))?.owner, 'instance-a', 'the key stays its owner\'s');
});

test.run();
