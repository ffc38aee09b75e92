// The embedded IPAM on PostgreSQL with several instances on one database: concurrent allocations
// never hand out one prefix twice, the store agrees with what was handed out, and released blocks
// follow quarantine and hold-down whichever instance asks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createPgEmbeddedIpam } from '../../../services/ipam/embedded-pg.ts';
import type { EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../../services/ipam/port.ts';
import { overlaps, parsePrefix } from '../../../services/ipv6.ts';
import { createPgPool, migrate } from '../../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../../support/postgres.ts';
import type pg from 'pg';

const test = suite('embedded IPAM on PostgreSQL, several instances');
let cluster: PgCluster | null = null;
let n = 0;
test.after(async () => void (await cluster?.stop()));

const POOLS: EmbeddedPool[] = [
  { name: 'res', prefix: '2001:db8::/40', prefixLength: 56, holdDownS: 60 },
  { name: 'tiny', prefix: '2001:db8:ff00::/62', prefixLength: 64, holdDownS: 0 },
];

/** `count` instances (each its own pool of connections) on one fresh database, started at once. */
async function instances(count: number, fn: (ipams: IpamPort[], dbs: pg.Pool[], clock: { ms: number }) => Promise<void>): Promise<void> {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster ??= await startPostgres({ max_connections: 200 });
  const url = await cluster.createDatabase(`ipam_multi_${++n}`);
  const dbs = Array.from({ length: count }, () => createPgPool({ url, max: 8 }));
  const clock = { ms: Date.parse('2026-06-01T00:00:00.000Z') };
  try {
    await Promise.all(dbs.map((db) => migrate(db)));
    const ipams = await Promise.all(dbs.map((db) => createPgEmbeddedIpam(db, POOLS, { now: () => clock.ms })));
    await fn(ipams, dbs, clock);
  } finally {
    await Promise.all(dbs.map((db) => db.end()));
  }
}

const cmd = (i: number, pool = 'res', prefixLength = 56) => ({ key: `k${i}`, lifecycleId: `lc${i}`, subscriberId: `sub${i}`, pool, prefixLength });

test('three instances started at once → one free run per pool, built once', async () => {
  await instances(3, async (_ipams, [db]) => {
    const { rows } = await db!.query<{ pool: string; n: number }>('SELECT pool, count(*) AS n FROM ipam_free GROUP BY pool ORDER BY pool');
    assert.equal(rows, [{ pool: 'res', n: 1 }, { pool: 'tiny', n: 1 }]);
  });
});

test('1,000 concurrent allocations spread over three instances → 1,000 distinct prefixes, IPAM = store', async () => {
  await instances(3, async (ipams, [db]) => {
    const got = await Promise.all(Array.from({ length: 1000 }, (_, i) => ipams[i % 3]!.allocate(cmd(i))));
    const prefixes = got.map((a) => a.prefix);
    assert.is(new Set(prefixes).size, 1000);
    const sorted = prefixes.map((p) => parsePrefix(p)).sort((a, b) => (a.network < b.network ? -1 : 1));
    for (let i = 1; i < sorted.length; i++) assert.not.ok(overlaps(sorted[i - 1]!, sorted[i]!));
    const { rows } = await db!.query<{ key: string; prefix: string }>('SELECT key, prefix FROM ipam_allocations');
    assert.equal(new Map(rows.map((r) => [r.key, r.prefix])), new Map(got.map((a, i) => [`k${i}`, a.prefix])));
    // First fit packs them: the first 1,000 /56 of the parent, whoever allocated which.
    assert.is(sorted.at(-1)!.network - sorted[0]!.network, 999n * 2n ** 72n);
    for (const ipam of ipams) assert.is((await ipam.utilization()).find((u) => u.name === 'res')?.allocated, 1000);
  });
});

test('a pool with 4 blocks, 12 concurrent allocations over three instances → exactly 4 succeed, the rest pool_exhausted', async () => {
  await instances(3, async (ipams) => {
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => ipams[i % 3]!.allocate(cmd(i, 'tiny', 64))));
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.prefix] : []));
    assert.equal(won.sort(), ['2001:db8:ff00::/64', '2001:db8:ff00:1::/64', '2001:db8:ff00:2::/64', '2001:db8:ff00:3::/64'].sort());
    for (const r of results) if (r.status === 'rejected') assert.is((r.reason as ServiceError).code, 'pool_exhausted');
  });
});

test('one key from three instances at once → one prefix, one row', async () => {
  await instances(3, async (ipams, [db]) => {
    const got = await Promise.all(ipams.map((ipam) => ipam.allocate(cmd(7))));
    assert.is(new Set(got.map((a) => a.prefix)).size, 1);
    assert.is((await db!.query<{ n: number }>('SELECT count(*) AS n FROM ipam_allocations')).rows[0]!.n, 1);
  });
});

test('released on one instance → quarantined for all; freed → held down until the hold-down passes, then reusable; sticky on another instance', async () => {
  await instances(3, async ([a, b, c], _dbs, clock) => {
    const first = await a!.allocate(cmd(1));
    const release = { lifecycleId: 'lc1', subscriberId: 'sub1', pool: 'res', prefix: first.prefix, netboxPrefixId: null };
    await a!.release(release);
    assert.is.not((await b!.allocate(cmd(2))).prefix, first.prefix, 'quarantined: not handed out');
    await b!.free(release);
    assert.is((await c!.utilization()).find((u) => u.name === 'res')?.heldDown, 1);
    // Its own subscriber gets it back while it is held down (sticky), through any instance.
    assert.is((await c!.allocate({ ...cmd(3), subscriberId: 'sub1' })).prefix, first.prefix);
    await c!.release({ ...release, lifecycleId: 'lc3' });
    await c!.free({ ...release, lifecycleId: 'lc3' });
    assert.is.not((await a!.allocate(cmd(4))).prefix, first.prefix, 'held down: nobody else gets it');
    clock.ms += 61_000;
    assert.is((await b!.allocate(cmd(5))).prefix, first.prefix, 'after the hold-down: the first free block again');
  });
});

test('sweep() on any instance gives blocks past their hold-down back, in batches; held-down ones stay; the figures agree', async () => {
  await instances(2, async ([a, b], dbs, clock) => {
    const got: Array<{ prefix: string }> = [];
    for (let i = 1; i <= 603; i++) got.push(await a!.allocate(cmd(i)));
    const rel = (i: number) => ({ lifecycleId: `lc${i}`, subscriberId: `sub${i}`, pool: 'res', prefix: got[i - 1]!.prefix, netboxPrefixId: null });
    for (let i = 1; i <= 600; i++) await a!.free(rel(i));
    clock.ms += 61_000;
    await a!.free(rel(601));
    const before = (await b!.utilization()).find((u) => u.name === 'res')!;
    assert.equal(await (b as unknown as { sweep(): Promise<{ given_back: number }> }).sweep(), { given_back: 600 });
    const { rows } = await dbs[0]!.query<{ prefix: string }>("SELECT prefix FROM ipam_quarantine WHERE pool = 'res'");
    assert.equal(rows.map((r) => r.prefix), [got[600]!.prefix]);
    const after = (await a!.utilization()).find((u) => u.name === 'res')!;
    assert.equal([after.allocated, after.heldDown], [before.allocated, before.heldDown]);
    assert.is((await a!.allocate(cmd(700))).prefix, got[0]!.prefix);
  });
});

test('the database itself refuses an overlapping block (exclusion constraint), in any pool', async () => {
  await instances(1, async ([ipam], [db]) => {
    const got = await ipam!.allocate(cmd(1));
    let err: unknown = null;
    await db!
      .query(
        `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
         VALUES ('other', repeat('0', 32), repeat('f', 32), $1, 48, 'forged', 'x', 'y', 'now')`,
        [got.prefix.replace('/56', '/48')],
      )
      .catch((e: unknown) => (err = e));
    assert.match(String(err), /ipam_allocations_no_overlap/);
  });
});

test.run();
