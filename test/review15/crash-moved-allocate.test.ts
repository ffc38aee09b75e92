// An ordinary allocation in a pool whose parent moved gives back one batch of expired hold-downs,
// then waits for the pool's sweep before it looks again. The real process (SQLite, embedded IPAM)
// SIGKILLed while that allocation runs, at a spread of moments, restarted, and the allocation sent
// again with its Idempotency-Key: it answers the lifecycle the first meant, inside the new parent,
// once; the leak check finds nothing; the figures agree with a walk of the list.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pLimit from 'p-limit';
import { contains, parsePrefix } from '../../services/ipv6.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { listPages } from '../support/soak-checks.ts';
import { answered as answeredBy } from '../support/soak-client.ts';
import { API_TOKEN } from '../support/soak-peers.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';

const N = 100;
const OLD = '2001:db8::/40';
const NEW = '2001:db8:100::/40';
function crashCase(backend: 'sqlite' | 'postgresql') {
  const test = suite(`review15: an allocation in a moved pool killed while it waits for the sweep (${backend})`);
  let cluster: PgCluster | null = null;
  let url = '';
  let svc: SoakService;
  let dir: string;
  let port: number;
  const store = backend === 'postgresql' ? 'store: { backend: postgresql, lease_ms: 2000 }\n' : '';
  const config = (parent: string) =>
    writeFileSync(join(dir, 'config.yaml'), `listen: { host: 127.0.0.1, port: ${port} }\ndatabase: ${join(dir, 'svc.sqlite')}\n${store}pools: [{ name: documentation, prefix: "${parent}", prefix_length: 56, hold_down_s: 1, sticky: false }]\n`);
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crash15-moved-'));
    port = await freePort();
    config(OLD);
    if (backend === 'postgresql') url = await (cluster = await startPostgres()).createDatabase('crash15moved');
    svc = soakService({ config: join(dir, 'config.yaml'), port, env: { IPV6_LIFECYCLE_API_TOKEN: API_TOKEN, IPV6_LIFECYCLE_DATABASE_URL: url } });
    await svc.start();
    await svc.ready();
  });
  test.after(async () => {
    await svc.kill();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (method: string, path: string, body?: unknown, key?: string) => answeredBy(svc.origin, method, path, body, key);
  const walk = async () => {
    const pages = await listPages(svc.origin);
    if (!pages) throw new Error('the list did not answer');
    return pages.flat();
  };
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  test('SIGKILL during the allocation → its retry with the key answers once, in the new parent, nothing leaked', async () => {
    const limit = pLimit(8);
    await Promise.all(Array.from({ length: N }, (_, i) => limit(async () => {
      const a = await call('POST', 'allocate', { subscriber_id: `old-${i}` });
      assert.is(a.status, 201, JSON.stringify(a.body));
      const r = await call('POST', 'revoke', { subscriber_id: `old-${i}` });
      assert.is(r.status, 200, JSON.stringify(r.body));
    })));
    await svc.stop();
    config(NEW);
    await sleep(1200);
    const parent = parsePrefix(NEW);
    for (const [i, delay] of [0, 2, 8].entries()) {
      await svc.start();
      await svc.ready();
      const key = `crash15-moved-${i}`;
      const first = call('POST', 'allocate', { subscriber_id: `new-${i}` }, key).catch(() => null);
      await sleep(delay);
      await svc.kill();
      assert.is(await first, null, 'killed before it answered');
      await svc.start();
      await svc.ready();
      // On PostgreSQL the killed instance's key is its own until its lease ends: 503, send it again.
        let again = await call('POST', 'allocate', { subscriber_id: `new-${i}` }, key);
        for (const end = Date.now() + 20_000; again.status === 503 && Date.now() < end; await sleep(250)) again = await call('POST', 'allocate', { subscriber_id: `new-${i}` }, key);
      assert.ok([200, 201].includes(again.status), JSON.stringify(again.body));
      assert.is(again.body.subscriber_id, `new-${i}`);
      assert.ok(contains(parent, parsePrefix(again.body.prefix)), `${again.body.prefix} inside ${NEW}`);
      const live = (await walk()).filter((l) => l.state !== 'revoked');
      assert.is(live.length, i + 1, 'one lifecycle per allocation asked for');
      assert.is(new Set(live.map((l) => l.prefix)).size, live.length, 'no prefix held twice');
      const leaks = await call('POST', 'jobs/leaks');
      assert.equal([leaks.status, leaks.body.counts?.leaked], [200, 0], JSON.stringify(leaks.body).slice(0, 800));
      const summary = (await call('GET', 'metrics')).body;
      const pool = summary.pools.find((p: any) => p.name === 'documentation');
      assert.is(pool.allocated - pool.held_down, live.length, `the pool's figures agree with the walk: ${JSON.stringify(pool)}`);
      assert.is(summary.states.allocated, live.length, JSON.stringify(summary.states));
      await svc.stop();
    }
  });

  test.run();
}

crashCase('sqlite');
if (postgresAvailable('review15 crash-moved-allocate on PostgreSQL')) crashCase('postgresql');
