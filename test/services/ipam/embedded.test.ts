import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import { blockSize, formatPrefix, fromHex, lastAddress, nthSubnet, parsePrefix } from '../../../services/ipam/ipv6.ts';
import type { IpamPort, PoolInfo } from '../../../services/ipam/port.ts';
import { openDatabase, type Db } from '../../../store/db.ts';

const ctx: { dir: string; file: string; db: Db | null } = { dir: '', file: '', db: null };
const test = suite('embedded ipam');

test.before.each(() => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'ipam-embedded-'));
  ctx.file = join(ctx.dir, 'lifecycle.db');
  ctx.db = openDatabase(ctx.file);
});
test.after.each(() => {
  if (ctx.db?.open) ctx.db.close();
  rmSync(ctx.dir, { recursive: true, force: true });
});

function db(): Db {
  if (!ctx.db) throw new Error('no db');
  return ctx.db;
}

function reopen(pools: PoolInfo[]): IpamPort {
  db().close();
  ctx.db = openDatabase(ctx.file);
  return createEmbeddedIpam(ctx.db, pools);
}

function allocate(ipam: IpamPort, key: string, pool: string, prefixLength: number, lifecycleId = `lc-${key}`) {
  return ipam.allocate({ key, lifecycleId, subscriberId: `sub-${key}`, pool, prefixLength });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

/** Free runs and blocks must tile the parent exactly, and no two free runs may touch (they are merged). */
function assertTiles(pool: PoolInfo): void {
  const parent = parsePrefix(pool.prefix);
  const row = (kind: string) => (r: { start_hex: string; end_hex: string }) => ({ kind, start: fromHex(r.start_hex), end: fromHex(r.end_hex) });
  const runs = [
    ...db().prepare('SELECT start_hex, end_hex FROM ipam_allocations WHERE pool = ?').all(pool.name).map(row('block') as never),
    ...db().prepare('SELECT start_hex, end_hex FROM ipam_free WHERE pool = ?').all(pool.name).map(row('free') as never),
  ] as Array<{ kind: string; start: bigint; end: bigint }>;
  runs.sort((a, b) => (a.start < b.start ? -1 : 1));
  let next = parent.network;
  let previous = '';
  for (const r of runs) {
    assert.is(r.start, next, `a gap or an overlap at ${formatPrefix({ network: r.start, length: 128 })}`);
    assert.ok(!(r.kind === 'free' && previous === 'free'), 'two free runs touch');
    next = r.end + 1n;
    previous = r.kind;
  }
  assert.is(next, lastAddress(parent) + 1n);
}

test('allocations and free space survive closing and reopening the db file', async () => {
  const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }];
  let ipam = createEmbeddedIpam(db(), pools);
  const a = await allocate(ipam, 'a', 'p', 56);
  const b = await allocate(ipam, 'b', 'p', 56);
  await ipam.release({ key: 'ra', lifecycleId: 'lc-a', pool: 'p', prefix: a.prefix, netboxPrefixId: null });
  ipam = reopen(pools);
  assert.equal(await allocate(ipam, 'b', 'p', 56), b);
  assert.is((await allocate(ipam, 'c', 'p', 56)).prefix, '2001:db8::/56');
  assert.is((await allocate(ipam, 'd', 'p', 56)).prefix, '2001:db8:0:200::/56');
  assert.is((await ipam.utilization())[0]?.allocated, 3);
  assertTiles(pools[0]!);
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
  assertTiles(wider);
});

test('blocks of mixed lengths never overlap and always come from the first free aligned block', async () => {
  // A reference that knows nothing of free runs: one flag per /64 of a /52 parent.
  const pool = { name: 'mix', prefix: '2001:db8:0:f000::/52', prefixLength: 56 };
  const parent = parsePrefix(pool.prefix);
  const units = new Uint8Array(4096);
  const unitOf = (prefix: string) => Number((parsePrefix(prefix).network - parent.network) / blockSize(64));
  const expectFirstFree = (length: number): string | null => {
    const width = 2 ** (64 - length);
    for (let at = 0; at < 4096; at += width) {
      if (units.subarray(at, at + width).every((u) => u === 0)) return formatPrefix({ network: parent.network + BigInt(at) * blockSize(64), length });
    }
    return null;
  };
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const lengths = [56, 56, 56, 57, 60, 62, 64, 64, 64, 52];
  const live: Array<{ key: string; prefix: string }> = [];
  let ipam = createEmbeddedIpam(db(), [pool]);
  for (let step = 0; step < 800; step++) {
    if (step === 400) ipam = reopen([pool]);
    if (live.length > 0 && random() < 0.35) {
      const [gone] = live.splice(Math.floor(random() * live.length), 1);
      await ipam.release({ key: `r-${gone!.key}`, lifecycleId: `lc-${gone!.key}`, pool: 'mix', prefix: gone!.prefix, netboxPrefixId: null });
      const p = parsePrefix(gone!.prefix);
      units.fill(0, unitOf(gone!.prefix), unitOf(gone!.prefix) + 2 ** (64 - p.length));
      continue;
    }
    const length = lengths[Math.floor(random() * lengths.length)]!;
    const expected = expectFirstFree(length);
    const key = `s${step}`;
    if (expected === null) {
      await rejectsWith(allocate(ipam, key, 'mix', length), 'pool_exhausted');
      continue;
    }
    const got = await allocate(ipam, key, 'mix', length);
    assert.is(got.prefix, expected, `step ${step}: first free /${length}`);
    units.fill(1, unitOf(got.prefix), unitOf(got.prefix) + 2 ** (64 - length));
    live.push({ key, prefix: got.prefix });
  }
  assert.is((await ipam.utilization())[0]?.allocated, live.length);
  assertTiles(pool);
});

test('a pool of 100k allocated /56 still hands out the first free block', async () => {
  const pool = { name: 'big', prefix: '2001:db8::/32', prefixLength: 56 };
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
    await ipam.release({ key: `r${i}`, lifecycleId: `lc-k${i}`, pool: 'big', prefix: formatPrefix(nthSubnet(pool.prefix, 56, i)), netboxPrefixId: null });
  }
  assert.is((await allocate(ipam, 'again-1', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, 500)));
  assert.is((await allocate(ipam, 'again-2', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, 70_000)));
  assert.is((await allocate(ipam, 'again-3', 'big', 56)).prefix, formatPrefix(nthSubnet(pool.prefix, 56, n)));
  // 100,001 /56s reach into the 391st /48 (100,001 / 256 = 390.6), so the first free /48 is the 392nd.
  assert.is((await allocate(ipam, 'wide', 'big', 48)).prefix, '2001:db8:187::/48');
  assert.is((await allocate(ipam, 'narrow', 'big', 64)).prefix, formatPrefix({ network: nthSubnet(pool.prefix, 56, n + 1).network, length: 64 }));
  assert.equal((await ipam.utilization())[0], { ...pool, capacity: 2 ** 24, allocated: n + 3 });
  assertTiles(pool);
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
  const other = openDatabase(ctx.file);
  try {
    const second = createEmbeddedIpam(other, pools);
    const mixed = await Promise.all(Array.from({ length: 40 }, (_, i) => allocate(i % 2 ? ipam : second, `c${i}`, 'p', 56)));
    assert.is(new Set(mixed.map((a) => a.prefix)).size, 40);
    assert.is((await second.utilization())[0]?.allocated, 41);
  } finally {
    other.close();
  }
  assertTiles(pools[0]!);
});

test('release() of a block in an unconfigured pool or of another length succeeds and changes nothing', async () => {
  const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56 }];
  const ipam = createEmbeddedIpam(db(), pools);
  const a = await allocate(ipam, 'a', 'p', 56);
  await ipam.release({ key: 'r1', lifecycleId: 'lc-a', pool: 'gone', prefix: a.prefix, netboxPrefixId: null });
  await ipam.release({ key: 'r2', lifecycleId: 'lc-a', pool: 'p', prefix: '2001:db8::/57', netboxPrefixId: null });
  assert.is((await ipam.utilization())[0]?.allocated, 1);
  await rejectsWith(ipam.release({ key: 'r3', lifecycleId: 'lc-a', pool: 'p', prefix: '2001:db8::1/56', netboxPrefixId: null }), 'validation_error');
  assertTiles(pools[0]!);
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

test.run();
