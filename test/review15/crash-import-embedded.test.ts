// POST /import on the embedded IPAM and SQLite, the real process SIGKILLed while it adopts (slices
// of 50, a turn between, the commit of a batch in a turn of its own), then sent again with the same
// Idempotency-Key: the rerun must finish exactly what the first did not. One lifecycle per record on
// its own prefix, one IPAM block per lifecycle, the leak check finding nothing, the pool's figures
// and the summary agreeing with a walk of the list.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPrefix, nthSubnet, parsePrefix } from '../../services/ipv6.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { listPages } from '../support/soak-checks.ts';
import { answered as answeredBy } from '../support/soak-client.ts';
import { API_TOKEN } from '../support/soak-peers.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';

const N = 800;
const HELD = 40;
function crashCase(backend: 'sqlite' | 'postgresql') {
  const test = suite(`review15: import on the embedded IPAM killed mid-apply, sent again with its key (${backend})`);
  let cluster: PgCluster | null = null;
  let svc: SoakService;
  let dir: string;
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'crash15-import-'));
    const port = await freePort();
    const config = join(dir, 'config.yaml');
    const store = backend === 'postgresql' ? 'store: { backend: postgresql, lease_ms: 2000 }\n' : '';
    const pools = 'pools: [{ name: documentation, prefix: "2001:db8::/32", prefix_length: 56, hold_down_s: 1, sticky: false }]\n';
    writeFileSync(config, `listen: { host: 127.0.0.1, port: ${port} }\ndatabase: ${join(dir, 'svc.sqlite')}\n${store}${pools}`);
    const url = backend === 'postgresql' ? await (cluster = await startPostgres()).createDatabase('crash15import') : '';
    svc = soakService({ config, port, env: { IPV6_LIFECYCLE_API_TOKEN: API_TOKEN, IPV6_LIFECYCLE_DATABASE_URL: url } });
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

  // From the pool's first block: the first HELD are the revoked lifecycles' expired hold-downs.
  const parent = parsePrefix('2001:db8::/40');
  const records = Array.from({ length: N }, (_, i) => ({ subscriber_id: `emb-${i}`, prefix: formatPrefix(nthSubnet(parent, 56, BigInt(i))) }));
  const body = { sources: { file: { records } }, options: { batch_size: 100 } };

  test('SIGKILL while adopting → the rerun with the same key adopts exactly the rest', async () => {
    // Blocks the import takes over, held down after a revocation and expired: adopt() gives them back first.
    for (let i = 0; i < HELD; i++) {
      assert.is((await call('POST', 'allocate', { subscriber_id: `gone-${i}` })).status, 201);
      assert.is((await call('POST', 'revoke', { subscriber_id: `gone-${i}` })).status, 200);
    }
    await sleep(1200);
    const key = 'crash15-import-1';
    let answered: unknown = null;
    const first = call('POST', 'import?dry_run=false', body, key).then((r) => (answered = r), () => null);
    // The first batch committed: the kill lands in a later batch's adoptions or its commit.
    for (const end = Date.now() + 30_000; (await call('GET', 'lifecycle?limit=1&state=allocated')).body.items.length === 0; await sleep(2)) {
      if (Date.now() > end || answered) throw new Error(`no batch committed: ${JSON.stringify(answered).slice(0, 800)}`);
    }
    await svc.kill();
    assert.is(await first, null, 'killed before it answered');
    const atKill = (await svc.start(), await svc.ready(), await walk()).filter((l) => l.state !== 'revoked').length;
    assert.ok(atKill > 0 && atKill < N, `the kill came mid-run (${atKill} of ${N})`);

    // On PostgreSQL the killed instance's key is its own until its lease ends: 503, send it again.
    let again = await call('POST', 'import?dry_run=false', body, key);
    for (const end = Date.now() + 20_000; again.status === 503 && Date.now() < end; await sleep(250)) again = await call('POST', 'import?dry_run=false', body, key);
    assert.is(again.status, 200, JSON.stringify(again.body).slice(0, 800));
    assert.equal(again.body.applied?.failed, [], JSON.stringify(again.body.applied).slice(0, 800));
    const conflicts = again.body.entries.filter((e: any) => e.action === 'conflict');
    assert.equal(conflicts.map((e: any) => [e.subscriber_id, e.conflicts]).slice(0, 3), [], 'no entry refused as held');
    assert.is(again.body.summary.adopted + again.body.applied.adopted, N, JSON.stringify(again.body.summary));

    const live = (await walk()).filter((l) => l.state !== 'revoked');
    assert.is(live.length, N, 'one lifecycle per record');
    assert.is(new Set(live.map((l) => l.subscriber_id)).size, N, 'no subscriber twice');
    const want = new Map(records.map((x) => [x.subscriber_id, x.prefix]));
    for (const l of live) assert.is(l.prefix, want.get(l.subscriber_id), l.subscriber_id);

    const leaks = await call('POST', 'jobs/leaks');
    assert.equal([leaks.status, leaks.body.counts?.leaked], [200, 0], JSON.stringify(leaks.body).slice(0, 800));
    const summary = await call('GET', 'metrics');
    const pool = summary.body.pools?.find((p: any) => p.name === 'documentation');
    assert.ok(pool, JSON.stringify(summary.body).slice(0, 400));
    assert.equal([pool.allocated, pool.held_down], [N, 0], `the pool's figures agree with the walk: ${JSON.stringify(pool)}`);
    const byState = Object.values(summary.body.states as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.is(byState - (summary.body.states.revoked ?? 0), N, `the summary's states agree with the walk: ${JSON.stringify(summary.body.states)}`);

    // Sent a third time: nothing left to do, nothing done twice.
    const third = await call('POST', 'import?dry_run=false', body, 'crash15-import-2');
    assert.equal([third.status, third.body.applied?.adopted, third.body.summary?.adopted], [200, 0, N], JSON.stringify(third.body.summary));
  });

  test.run();
}

crashCase('sqlite');
if (postgresAvailable('review15 crash-import-embedded on PostgreSQL')) crashCase('postgresql');
