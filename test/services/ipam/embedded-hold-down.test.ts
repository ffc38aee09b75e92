import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import type { EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import { allocate, assertTiles, mixedLengthWalk, quarantine as quarantineBlock, rejectsWith, release, scratchDb } from './embedded-support.ts';

const test = suite('embedded ipam: hold-down of released blocks');
const s = scratchDb(test);

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const HOLD_MS = 600_000;
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 600 };

/** An IPAM over `pools` whose clock stands at `clock.t` until a test moves it. */
function clockedIpam(pools: EmbeddedPool[] = [POOL]) {
  const clock = { t: T0 };
  const opts = { now: () => clock.t };
  return { clock, opts, ipam: createEmbeddedIpam(s.db(), pools, opts) };
}

function quarantine() {
  return s.db().prepare('SELECT pool, prefix, lifecycle_id, released_at, reusable_at FROM ipam_quarantine ORDER BY pool, start_hex').all();
}

test('release() holds the block down until reusable_at; allocate() hands it out again from then on', async () => {
  const { clock, ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  await allocate(ipam, 'b', 'p', 56);
  clock.t = T0 + 5_000;
  await release(ipam, 'a', 'p', a.prefix);
  assert.equal(quarantine(), [
    { pool: 'p', prefix: '2001:db8::/56', lifecycle_id: 'lc-a', released_at: '2030-01-01T00:00:05.000Z', reusable_at: '2030-01-01T00:10:05.000Z' },
  ]);
  clock.t = T0 + 5_000 + HOLD_MS - 1;
  assert.is((await allocate(ipam, 'c', 'p', 56)).prefix, '2001:db8:0:200::/56');
  assertTiles(s.db(), POOL);
  clock.t += 1;
  assert.is((await allocate(ipam, 'd', 'p', 56)).prefix, '2001:db8::/56');
  assert.equal(quarantine(), []);
  assertTiles(s.db(), POOL);
});

test('sweep() gives blocks past their hold-down back to free space in batches, without an allocation; held-down ones stay', async () => {
  const big: EmbeddedPool = { ...POOL, prefix: '2001:db8::/40' };
  const { clock, ipam } = clockedIpam([big]);
  const blocks: Array<{ prefix: string }> = [];
  for (let i = 0; i < 1_203; i++) blocks.push(await allocate(ipam, `k${i}`, 'p', 56));
  for (let i = 0; i < 1_200; i++) await release(ipam, `k${i}`, 'p', blocks[i]!.prefix);
  clock.t = T0 + HOLD_MS;
  await release(ipam, 'k1200', 'p', blocks[1200]!.prefix);
  const before = (await ipam.utilization())[0]!;
  const swept = await (ipam as unknown as { sweep(): Promise<{ given_back: number }> }).sweep();
  assert.equal(swept, { given_back: 1_200 });
  assert.equal(quarantine().map((r) => (r as { prefix: string }).prefix), [blocks[1200]!.prefix], 'the one still held down stays');
  const free = s.db().prepare('SELECT start_hex, end_hex FROM ipam_free WHERE pool = ? ORDER BY start_hex').all('p') as unknown[];
  assert.is(free.length, 2, 'the 1,200 given back merged into one run before the held-down block, and the rest after');
  assertTiles(s.db(), big);
  const after = (await ipam.utilization())[0]!;
  assert.equal([after.allocated, after.heldDown], [before.allocated, before.heldDown], 'the figures already counted them as reusable');
  assert.equal(await (ipam as unknown as { sweep(): Promise<{ given_back: number }> }).sweep(), { given_back: 0 });
  assert.is((await allocate(ipam, 'again', 'p', 56)).prefix, blocks[0]!.prefix);
});

test('utilization() counts a held-down block as allocated until its hold-down ends; markedPrefixes() never lists it', async () => {
  const { clock, ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  await allocate(ipam, 'b', 'p', 56);
  await release(ipam, 'a', 'p', a.prefix);
  assert.equal([(await ipam.utilization())[0]?.allocated, (await ipam.utilization())[0]?.heldDown], [2, 1]);
  assert.equal(await ipam.markedPrefixes(), [{ pool: 'p', prefix: '2001:db8:0:100::/56', lifecycleId: 'lc-b', key: 'b' }]);
  // Expired but not yet moved to the free runs (no allocation since): it can be handed out, so it is not counted.
  clock.t = T0 + HOLD_MS;
  assert.equal([(await ipam.utilization())[0]?.allocated, (await ipam.utilization())[0]?.heldDown], [1, 0]);
  assert.is(quarantine().length, 1);
});

test('the hold-down survives reopening the db file, and a new parent does not free the held-down block', async () => {
  const { clock, opts, ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  await release(ipam, 'a', 'p', a.prefix);
  let again = s.reopen([POOL], opts);
  assert.is((await allocate(again, 'b', 'p', 56)).prefix, '2001:db8:0:100::/56');
  // Another parent rebuilds ipam_free from what is taken: the held-down block must stay out of it.
  const wider = { ...POOL, prefix: '2001:db8::/47' };
  again = s.reopen([wider], opts);
  assertTiles(s.db(), wider);
  assert.is((await allocate(again, 'c', 'p', 56)).prefix, '2001:db8:0:200::/56');
  clock.t = T0 + HOLD_MS;
  again = s.reopen([wider], opts);
  assert.is((await allocate(again, 'd', 'p', 56)).prefix, '2001:db8::/56');
  assertTiles(s.db(), wider);
});

test('blocks of other lengths never overlap a held-down block', async () => {
  const { clock, ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  await release(ipam, 'a', 'p', a.prefix);
  assert.is((await allocate(ipam, 'small', 'p', 64)).prefix, '2001:db8:0:100::/64');
  assert.is((await allocate(ipam, 'mid', 'p', 52)).prefix, '2001:db8:0:1000::/52');
  await rejectsWith(allocate(ipam, 'whole', 'p', 48), 'pool_exhausted');
  assertTiles(s.db(), POOL);
  clock.t = T0 + HOLD_MS;
  assert.is((await allocate(ipam, 'small2', 'p', 64)).prefix, '2001:db8::/64');
  assertTiles(s.db(), POOL);
});

test('release() twice holds down once; allocate() under the released key takes a fresh block, never the held-down one', async () => {
  // Not sticky: the subscriber would get its own held-down block back (see the sticky tests).
  const { clock, ipam } = clockedIpam([{ ...POOL, sticky: false }]);
  const a = await allocate(ipam, 'k', 'p', 56);
  await release(ipam, 'k', 'p', a.prefix);
  await release(ipam, 'k', 'p', a.prefix);
  assert.is(quarantine().length, 1);
  // As the release step does for an attempt whose answer was lost: allocate under its key, give back at once.
  const fresh = await allocate(ipam, 'k', 'p', 56);
  assert.is(fresh.prefix, '2001:db8:0:100::/56');
  await release(ipam, 'k', 'p', fresh.prefix, 'lc-intruder');
  assert.equal(await ipam.markedPrefixes(), [{ pool: 'p', prefix: fresh.prefix, lifecycleId: 'lc-k', key: 'k' }], 'another lifecycle cannot release it');
  await release(ipam, 'k', 'p', fresh.prefix);
  assert.equal(await ipam.markedPrefixes(), []);
  assert.equal(
    quarantine().map((q) => (q as { prefix: string }).prefix),
    ['2001:db8::/56', '2001:db8:0:100::/56'],
  );
  clock.t = T0 + HOLD_MS;
  assert.is((await allocate(ipam, 'next', 'p', 56)).prefix, '2001:db8::/56');
  assertTiles(s.db(), POOL);
});

test('each pool has its own hold-down: 0 gives the block back at once, unset means 600 s', async () => {
  const pools: EmbeddedPool[] = [
    { name: 'zero', prefix: '2001:db8:1::/48', prefixLength: 56, holdDownS: 0 },
    { name: 'unset', prefix: '2001:db8:2::/48', prefixLength: 56 },
    { name: 'short', prefix: '2001:db8:3::/48', prefixLength: 56, holdDownS: 30 },
  ];
  const { clock, ipam } = clockedIpam(pools);
  for (const { name } of pools) await release(ipam, name, name, (await allocate(ipam, name, name, 56)).prefix);
  assert.equal(
    quarantine().map((q) => (q as { pool: string; reusable_at: string }).reusable_at),
    ['2030-01-01T00:00:30.000Z', '2030-01-01T00:10:00.000Z'],
  );
  clock.t = T0 + 30_000;
  const first = async (pool: string) => (await allocate(ipam, `${pool}-again`, pool, 56)).prefix;
  assert.equal([await first('zero'), await first('unset'), await first('short')], ['2001:db8:1::/56', '2001:db8:2:100::/56', '2001:db8:3::/56']);
});

test('blocks of mixed lengths with a 60 s hold-down come from the first aligned block neither taken nor held down', async () => {
  await mixedLengthWalk(s, 60);
});

test('the table refuses an allocation over a held-down block even when written around the IPAM', () => {
  s.db()
    .prepare(
      `INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, released_at, reusable_at)
       VALUES ('p', '20010db8000001000000000000000000', '20010db8000001ffffffffffffffffff', '2001:db8:0:100::/56', 'lc', 't0', 't1')`,
    )
    .run();
  const insert = s.db().prepare(
    `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
     VALUES ('p', @start, @end, 'x', 64, @key, 'lc', 'sub', 'now')`,
  );
  assert.throws(() => insert.run({ start: '20010db8000001100000000000000000', end: '20010db800000110ffffffffffffffff', key: 'inside' }), /quarantined/);
  assert.throws(() => insert.run({ start: '20010db8000000000000000000000000', end: '20010db80000ffffffffffffffffffff', key: 'around' }), /quarantined/);
  insert.run({ start: '20010db8000002000000000000000000', end: '20010db800000200ffffffffffffffff', key: 'beside' });
});

test('createEmbeddedIpam() rejects a hold-down that is not whole seconds >= 0', () => {
  assert.throws(() => createEmbeddedIpam(s.db(), [{ ...POOL, holdDownS: -1 }]), /hold-down/);
  assert.throws(() => createEmbeddedIpam(s.db(), [{ ...POOL, holdDownS: 1.5 }]), /hold-down/);
});

test('sticky (the default): a subscriber allocated again within the hold-down gets its freed block back; others never do', async () => {
  const { clock, ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  await allocate(ipam, 'b', 'p', 56);
  await quarantineBlock(ipam, 'a', 'p', a.prefix);
  const again = { key: 'a-again', lifecycleId: 'lc-a2', subscriberId: 'sub-a', pool: 'p', prefixLength: 56 };
  assert.is((await ipam.allocate({ ...again, key: 'a-early' })).prefix, '2001:db8:0:200::/56', 'quarantined, not freed: not even its subscriber gets it');
  await release(ipam, 'a', 'p', a.prefix);
  assert.is((await allocate(ipam, 'c', 'p', 56)).prefix, '2001:db8:0:300::/56', 'another subscriber never gets it');
  clock.t = T0 + HOLD_MS - 1;
  assert.is((await ipam.allocate(again)).prefix, a.prefix, 'its subscriber does');
  assert.equal(quarantine(), []);
  assertTiles(s.db(), POOL);
});

test('an update renumbers: its allocation never takes back the block the subscriber held before', async () => {
  const { ipam } = clockedIpam();
  const a = await allocate(ipam, 'a', 'p', 56);
  // The update of lifecycle `a` to a new block, then the old block given back (freed, in its hold-down).
  const next = { key: 'a:allocate:1', lifecycleId: 'lc-a', subscriberId: 'sub-a', pool: 'p', prefixLength: 56, renumber: true };
  const b = await ipam.allocate(next);
  assert.is.not(b.prefix, a.prefix);
  await release(ipam, 'a', 'p', a.prefix);
  // A second update within the hold-down: a renumbering that handed back the first block would undo the first.
  assert.is.not((await ipam.allocate({ ...next, key: 'a:allocate:2' })).prefix, a.prefix);
  // A new lifecycle of the subscriber (after a revocation) still gets it back.
  assert.is((await ipam.allocate({ key: 'a2', lifecycleId: 'lc-a2', subscriberId: 'sub-a', pool: 'p', prefixLength: 56 })).prefix, a.prefix);
});

test.run();
