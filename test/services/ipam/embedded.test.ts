import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import { formatPrefix, fromHex, nthSubnet } from '../../../services/ipv6.ts';
import { openDatabase } from '../../../store/db.ts';
import { allocate, assertTiles, mixedLengthWalk, rejectsWith, scratchDb } from './embedded-support.ts';

const test = suite('embedded ipam');
const s = scratchDb(test);
const db = s.db;
const reopen = s.reopen;

// Pools that release here give the block back at once (hold-down 0); embedded-hold-down.test.ts covers the hold-down.

test('allocations and free space survive closing and reopening the db file', async () => {
  const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 0 }];
  let ipam = createEmbeddedIpam(db(), pools);
  const a = await allocate(ipam, 'a', 'p', 56);
  const b = await allocate(ipam, 'b', 'p', 56);
  await ipam.free({ lifecycleId: 'lc-a', pool: 'p', prefix: a.prefix, netboxPrefixId: null });
  ipam = reopen(pools);
  assert.equal(await allocate(ipam, 'b', 'p', 56), b);
  assert.is((await allocate(ipam, 'c', 'p', 56)).prefix, '2001:db8::/56');
  assert.is((await allocate(ipam, 'd', 'p', 56)).prefix, '2001:db8:0:200::/56');
  assert.is((await ipam.utilization())[0]?.allocated, 3);
  assertTiles(db(), pools[0]!);
});

test('a wider parent in the configuration keeps the blocks and rebuilds the free space', async () => {
  const ipam = createEmbeddedIpam(db(), [{ name: 'p', prefix: '2001:db8:0:100::/56', prefixLength: 60 }]);
  for (let i = 0; i < 16; i++) await allocate(ipam, `k${i}`, 'p', 60);
  await rejectsWith(allocate(ipam, 'full', 'p', 60), 'pool_exhausted');
  const wider = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56 };
  const again = reopen([wider]);
  assert.is((await allocate(again, 'w0', 'p', 56)).prefix, '2001:db8::/56');
  assert.is((await allocate(again, 'w1', 'p', 56)).prefix, '2001:db8:0:200::/56');
  assert.is((await allocate(again, 'k3', 'p', 60)).prefix, '2001:db8:0:130::/60');
  assertTiles(db(), wider);
});

test('blocks of mixed lengths never overlap and always come from the first free aligned block', async () => {
  await mixedLengthWalk(s, 0);
});

test('a pool of 100k allocated /56 still hands out the first free block', async () => {
  const pool = { name: 'big', prefix: '2001:db8::/32', prefixLength: 56, holdDownS: 0 };
  const ipam = createEmbeddedIpam(db(), [pool]);
  const n = 100_000;
  // One outer transaction turns the 100k commits into savepoints (10 s down to about 3 s). It only
  // works while allocate() reaches its transaction synchronously; if that changes, each call
  // commits on its own and the test is merely slower.
  const seeded: Array<Promise<{ prefix: string }>> = [];
  db().transaction(() => {
    for (let i = 0; i < n; i++) seeded.push(allocate(ipam, `k${i}`, 'big', 56));
  })();
  const prefixes = (await Promise.all(seeded)).map((a) => a.prefix);
  prefixes.forEach((prefix, i) => {
    if (prefix !== formatPrefix(nthSubnet(pool.prefix, 56, i))) assert.unreachable(`allocation ${i} got ${prefix}`);
  });
  const free = db().prepare('SELECT start_hex, end_hex FROM ipam_free WHERE pool = ?').all('big') as Array<{ start_hex: string }>;
  assert.equal(free.map((r) => fromHex(r.start_hex)), [nthSubnet(pool.prefix, 56, n).network], 'one free run, after the last block');
  for (const i of [500, 70_000]) {
    await ipam.free({ lifecycleId: `lc-k${i}`, pool: 'big', prefix: formatPrefix(nthSubnet(pool.prefix, 56, i)), netboxPrefixId: null });
  }
  assert.is((await allocate(ipam, 'again-1', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, 500)));
  assert.is((await allocate(ipam, 'again-2', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, 70_000)));
  assert.is((await allocate(ipam, 'again-3', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, n)));
  // 100,001 /56s reach into the 391st /48 (100,001 / 256 = 390.6), so the first free /48 is the 392nd.
  assert.is((await allocate(ipam, 'wide', 'big', 48)).prefix, '2001:db8:187::/48');
  assert.is((await allocate(ipam, 'narrow', 'big', 64)).prefix, formatPrefix({ network: nthSubnet(pool.prefix, 56, n + 1).network, length: 64 }));
  // In units of /56: the n + 1 /56s, the /48 (256 of them) and the /64 (it spoils one /56).
  assert.equal((await ipam.utilization())[0], { name: pool.name, prefix: pool.prefix, prefixLength: 56, capacity: 2 ** 24, allocated: n + 1 + 256 + 1, heldDown: 0 });
  assertTiles(db(), pool);
});

test('a key reused for another pool, length or lifecycle is an idempotency_mismatch', async () => {
  const ipam = createEmbeddedIpam(db(), [
    { name: 'a', prefix: '2001:db8::/48', prefixLength: 56 },
    { name: 'b', prefix: '2001:db8:1::/48', prefixLength: 56 },
  ]);
  await allocate(ipam, 'k', 'a', 56);
  await rejectsWith(allocate(ipam, 'k', 'b', 56), 'idempotency_mismatch');
  await rejectsWith(allocate(ipam, 'k', 'a', 60), 'idempotency_mismatch');
  await rejectsWith(allocate(ipam, 'k', 'a', 56, 'lc-other'), 'idempotency_mismatch');
  await rejectsWith(allocate(ipam, '', 'a', 56), 'validation_error');
});

test('concurrent calls with one key allocate once; two connections share one pool', async () => {
  const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }];
  const ipam = createEmbeddedIpam(db(), pools);
  const same = await Promise.all(Array.from({ length: 50 }, () => allocate(ipam, 'one', 'p', 56)));
  assert.equal(new Set(same.map((a) => a.prefix)), new Set(['2001:db8::/56']));
  const other = openDatabase(s.file());
  try {
    const second = createEmbeddedIpam(other, pools);
    const mixed = await Promise.all(Array.from({ length: 40 }, (_, i) => allocate(i % 2 ? ipam : second, `c${i}`, 'p', 56)));
    assert.is(new Set(mixed.map((a) => a.prefix)).size, 40);
    assert.is((await second.utilization())[0]?.allocated, 41);
  } finally {
    other.close();
  }
  assertTiles(db(), pools[0]!);
});

test('release() of a block in an unconfigured pool or of another length succeeds and changes nothing', async () => {
  const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }];
  const ipam = createEmbeddedIpam(db(), pools);
  const a = await allocate(ipam, 'a', 'p', 56);
  await ipam.release({ lifecycleId: 'lc-a', pool: 'gone', prefix: a.prefix, netboxPrefixId: null });
  await ipam.release({ lifecycleId: 'lc-a', pool: 'p', prefix: '2001:db8::/57', netboxPrefixId: null });
  assert.is((await ipam.utilization())[0]?.allocated, 1);
  await rejectsWith(ipam.release({ lifecycleId: 'lc-a', pool: 'p', prefix: '2001:db8::1/56', netboxPrefixId: null }), 'validation_error');
  assertTiles(db(), pools[0]!);
});

test('allocateNow() writes inside the caller\'s transaction, whose rollback takes it away; refused outside one', () => {
  const ipam = createEmbeddedIpam(db(), [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }]);
  const cmd = { key: 'k-a', lifecycleId: 'lc-a', subscriberId: 'sub-a', pool: 'p', prefixLength: 56 };
  assert.throws(() => ipam.allocateNow!(cmd), /outside a transaction/);
  const held = () => db().prepare('SELECT count(*) AS n FROM ipam_allocations').get() as { n: number };
  assert.is(held().n, 0);
  const rollback = db().transaction(() => {
    assert.is(ipam.allocateNow!(cmd)?.prefix, '2001:db8::/56');
    throw new Error('the write after it');
  });
  assert.throws(() => rollback(), /the write after it/);
  assert.is(held().n, 0, 'the block went with the rollback');
  assert.is(db().transaction(() => ipam.allocateNow!(cmd))()?.prefix, '2001:db8::/56', 'its first free block again');
  assertTiles(db(), { name: 'p', prefix: '2001:db8::/48' });
});

test('the table refuses overlapping blocks even when written around the IPAM', () => {
  const insert = db().prepare(
    `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
     VALUES ('p', @start, @end, 'x', 56, @key, 'lc', 'sub', 'now')`,
  );
  insert.run({ start: '20010db8000001000000000000000000', end: '20010db80000010fffffffffffffffff', key: 'inner' });
  assert.throws(
    () => insert.run({ start: '20010db8000000000000000000000000', end: '20010db80000ffffffffffffffffffff', key: 'outer' }),
    /overlaps/,
  );
  insert.run({ start: '20010db8000001100000000000000000', end: '20010db80000011fffffffffffffffff', key: 'beside' });
});

test('createEmbeddedIpam() rejects a pool configuration it cannot serve', () => {
  const p = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56 };
  assert.throws(() => createEmbeddedIpam(db(), [p, p]), /configured twice/);
  assert.throws(() => createEmbeddedIpam(db(), [{ ...p, prefixLength: 40 }]), /cannot delegate/);
  assert.throws(() => createEmbeddedIpam(db(), [{ ...p, prefix: '2001:db8::1/48' }]), /host bits/);
});

test('a configured pool over the space of a removed pool whose blocks are still held refuses to start, naming both', async () => {
  const old = { name: 'old', prefix: '2001:db8:a::/48', prefixLength: 56, holdDownS: 0 };
  const ipam = createEmbeddedIpam(db(), [old]);
  const held = await allocate(ipam, 'x', 'old', 56);
  // The same space under a new name would hand out the block the removed pool's lifecycle still holds.
  const renamed = { ...old, name: 'renamed' };
  assert.throws(() => reopen([renamed]), /pool "renamed" \(2001:db8:a::\/48\) overlaps 1 block\(s\) still held in pool "old"/);
  // Once the old pool's lifecycle has given its block back, the space is free for the new name.
  const drained = reopen([]);
  await drained.free({ lifecycleId: 'lc-x', pool: 'old', prefix: held.prefix, netboxPrefixId: null });
  assert.is((await allocate(reopen([renamed]), 'y', 'renamed', 56)).prefix, held.prefix);
});

test.run();
