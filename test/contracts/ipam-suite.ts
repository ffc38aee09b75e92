import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError, type ErrorCode } from '../../services/errors.ts';
import type { Allocation, IpamPort, PoolInfo } from '../../services/ipam/port.ts';
import { markedUnder } from '../../services/ipam/marked.ts';
import { ipamAdoptContract } from './ipam-suite-adopt.ts';

/** The pools every implementation under contract must serve, empty, from each `make()`. */
export const contractPools: readonly PoolInfo[] = [
  { name: 'contract-main', prefix: '2001:db8::/48', prefixLength: 56 },
  { name: 'contract-tiny', prefix: '2001:db8:ffff::/62', prefixLength: 64 },
];
const MAIN = 'contract-main';
const TINY = 'contract-tiny';

/** A fresh IPAM serving `contractPools` with nothing allocated, and how to dispose of it. */
export interface IpamHarness {
  ipam: IpamPort;
  pools: PoolInfo[];
  close(): Promise<void> | void;
}

/** The i-th /56 of 2001:db8::/48, written out by hand so the expectation does not reuse the code under test. */
function mainSlash56(i: number): string {
  return i === 0 ? '2001:db8::/56' : `2001:db8:0:${(i * 256).toString(16)}::/56`;
}

async function rejects(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ServiceError, `expected a ServiceError ${code}, got ${String(err)}`);
    const e = err as ServiceError;
    assert.is(e.code, code, e.message);
    if (field !== undefined) assert.is(e.field, field);
    return e;
  }
  assert.unreachable(`expected ${code}, but the call succeeded`);
  throw new Error('unreachable');
}

/**
 * Registers and runs (queues, under the uvu CLI) one suite of port-only assertions against an IPAM.
 * `make` is called before each test with the pools to serve; it must return an empty IPAM.
 */
export function ipamContract(
  name: string,
  make: (pools: readonly PoolInfo[]) => Promise<IpamHarness>,
  /** Once around the suite: a server the harnesses share (PostgreSQL). */
  around: { before?(): Promise<void>; after?(): Promise<void> } = {},
): void {
  const ctx: { harness: IpamHarness | null } = { harness: null };
  const test = suite(`IpamPort contract: ${name}`);
  if (around.before) test.before(() => around.before!());
  if (around.after) test.after(() => around.after!());

  test.before.each(async () => {
    ctx.harness = await make(contractPools);
    for (const want of contractPools) {
      assert.ok(ctx.harness.pools.some((p) => p.name === want.name), `make() must serve pool ${want.name}`);
    }
  });
  test.after.each(async () => {
    await ctx.harness?.close();
    ctx.harness = null;
  });

  function ipam(): IpamPort {
    if (!ctx.harness) throw new Error('no harness: before.each did not run');
    return ctx.harness.ipam;
  }

  function allocate(key: string, opts: { pool?: string; length?: number; lifecycle?: string } = {}): Promise<Allocation> {
    return ipam().allocate({
      key,
      lifecycleId: opts.lifecycle ?? `lc-${key}`,
      subscriberId: `sub-${key}`,
      pool: opts.pool ?? MAIN,
      prefixLength: opts.length ?? 56,
    });
  }

  /** Gives the block back for good: free() releases it too. */
  function release(a: Allocation, lifecycleId: string, pool = MAIN): Promise<void> {
    return ipam().free({ lifecycleId, pool, prefix: a.prefix, netboxPrefixId: a.netboxPrefixId });
  }

  /** The revocation's release: the block stops being the lifecycle's, quarantined until free(). */
  function quarantine(a: Allocation, lifecycleId: string, pool = MAIN): Promise<void> {
    return ipam().release({ lifecycleId, pool, prefix: a.prefix, netboxPrefixId: a.netboxPrefixId, subscriberId: `sub-${lifecycleId.slice(3)}` });
  }

  async function figuresOf(pool: string) {
    const found = (await ipam().utilization()).find((u) => u.name === pool);
    assert.ok(found, `utilization() lists pool ${pool}`);
    return { allocated: found.allocated, heldDown: found.heldDown ?? 0 };
  }

  async function allocatedIn(pool: string): Promise<number> {
    const found = (await ipam().utilization()).find((u) => u.name === pool);
    assert.ok(found, `utilization() lists pool ${pool}`);
    return found.allocated;
  }

  test('allocate() hands out the first free aligned block, in address order', async () => {
    const first = await allocate('k0');
    assert.is(first.prefix, '2001:db8::/56');
    assert.is(first.prefixLength, 56);
    assert.ok(first.netboxPrefixId === null || Number.isInteger(first.netboxPrefixId));
    const second = await allocate('k1');
    assert.is(second.prefix, '2001:db8:0:100::/56');
    assert.is(second.prefixLength, 56);
    assert.is((await allocate('k2')).prefix, '2001:db8:0:200::/56');
  });

  test('allocate() with the same key returns the same prefix and allocates nothing more', async () => {
    const first = await allocate('same');
    await allocate('other');
    const again = await allocate('same');
    assert.equal(again, first);
    assert.is(await allocatedIn(MAIN), 2);
  });

  test('allocate() with distinct keys gives distinct prefixes', async () => {
    const prefixes: string[] = [];
    for (let i = 0; i < 10; i++) prefixes.push((await allocate(`d${i}`)).prefix);
    assert.equal(prefixes, Array.from({ length: 10 }, (_, i) => mainSlash56(i)));
  });

  test('allocate() of another length takes the first aligned block that overlaps none', async () => {
    assert.is((await allocate('m56')).prefix, '2001:db8::/56');
    assert.is((await allocate('m52', { length: 52 })).prefix, '2001:db8:0:1000::/52');
    assert.is((await allocate('m64', { length: 64 })).prefix, '2001:db8:0:100::/64');
    assert.is((await allocate('m56b')).prefix, '2001:db8:0:200::/56');
    // Nothing of /48 is left once any block is taken from the /48 parent.
    await rejects(allocate('m48', { length: 48 }), 'pool_exhausted');
  });

  test('allocate() rejects a length shorter than the parent or longer than 128', async () => {
    await rejects(allocate('short', { length: 47 }), 'validation_error', 'prefixLength');
    await rejects(allocate('long', { length: 129 }), 'validation_error', 'prefixLength');
    assert.is(await allocatedIn(MAIN), 0);
  });

  test('allocate() in an unknown pool throws not_found on field pool', async () => {
    await rejects(allocate('nowhere', { pool: 'no-such-pool' }), 'not_found', 'pool');
  });

  test('allocate() throws pool_exhausted when no block is left, and succeeds again after a release', async () => {
    const got: Allocation[] = [];
    for (let i = 0; i < 4; i++) got.push(await allocate(`t${i}`, { pool: TINY, length: 64 }));
    assert.equal(
      got.map((a) => a.prefix),
      ['2001:db8:ffff::/64', '2001:db8:ffff:1::/64', '2001:db8:ffff:2::/64', '2001:db8:ffff:3::/64'],
    );
    const err = await rejects(allocate('t4', { pool: TINY, length: 64 }), 'pool_exhausted');
    assert.is(err.retryable, false);
    await release(got[2]!, 'lc-t2', TINY);
    assert.is((await allocate('t5', { pool: TINY, length: 64 })).prefix, '2001:db8:ffff:2::/64');
  });

  test('allocatedUnder() returns what a key holds for its lifecycle, allocates nothing, and forgets it once released', async () => {
    const under = (key: string, lifecycleId = `lc-${key}`) => ipam().allocatedUnder({ key, lifecycleId, pool: MAIN });
    assert.equal(await under('never'), [], 'a key that allocated nothing holds nothing');
    assert.is(await allocatedIn(MAIN), 0, 'and the lookup took nothing');
    const a = await allocate('held');
    assert.equal(await under('held'), [a]);
    assert.equal(await under('held', 'lc-other'), [], 'another lifecycle\'s key is not ours');
    await release(a, 'lc-held');
    assert.equal(await under('held'), [], 'released: nothing is held under the key');
  });

  test('release() then allocate() reuses the freed block', async () => {
    const [a0, a1, a2] = [await allocate('r0'), await allocate('r1'), await allocate('r2')];
    assert.is(a2.prefix, mainSlash56(2));
    await release(a1, 'lc-r1');
    assert.is(await allocatedIn(MAIN), 2);
    assert.is((await allocate('r3')).prefix, a1.prefix);
    assert.is((await allocate('r4')).prefix, mainSlash56(3));
    assert.is((await allocate('r0')).prefix, a0.prefix);
  });

  test('release() quarantines: nobody gets the block, even with hold-down 0, until free(); then it is reused', async () => {
    const [, a1] = [await allocate('q0'), await allocate('q1')];
    await quarantine(a1, 'lc-q1');
    await quarantine(a1, 'lc-q1');
    assert.equal(await figuresOf(MAIN), { allocated: 2, heldDown: 1 }, 'counted as taken, and apart as held');
    assert.equal((await ipam().markedPrefixes()).map((m) => m.lifecycleId).sort(), ['lc-q0'], 'no lifecycle holds it any more');
    assert.is((await allocate('q2')).prefix, mainSlash56(2), 'the quarantined block is skipped');
    await release(a1, 'lc-q1');
    await release(a1, 'lc-q1');
    assert.equal(await figuresOf(MAIN), { allocated: 2, heldDown: 0 });
    assert.is((await allocate('q3')).prefix, a1.prefix, 'freed, it is the first free block again');
  });

  test('free() leaves alone a quarantined block of another lifecycle', async () => {
    const a = await allocate('f0');
    await quarantine(a, 'lc-f0');
    await release(a, 'lc-intruder');
    assert.is((await allocate('f1')).prefix, mainSlash56(1));
  });

  test('utilization() counts address space in units of the delegated length: a /50 in a /56 pool is 64, a /60 spoils one', async () => {
    await allocate('w0', { length: 50 });
    await allocate('w1', { length: 60 });
    await allocate('w2', { length: 60 });
    await allocate('w3', { pool: TINY, length: 63 });
    assert.equal((await figuresOf(MAIN)).allocated, 64 + 1);
    assert.equal((await figuresOf(TINY)).allocated, 2);
  });

  test('release() of a prefix the IPAM does not have succeeds, and twice too', async () => {
    await allocate('kept');
    await ipam().release({ lifecycleId: 'lc-x', pool: MAIN, prefix: '2001:db8:0:ab00::/56', netboxPrefixId: null });
    await ipam().free({ lifecycleId: 'lc-x', pool: MAIN, prefix: '2001:db8:0:ab00::/56', netboxPrefixId: null });
    const gone = await allocate('gone');
    await release(gone, 'lc-gone');
    await release(gone, 'lc-gone');
    assert.is(await allocatedIn(MAIN), 1);
  });

  test('release() leaves alone a prefix that belongs to another lifecycle', async () => {
    const mine = await allocate('owner', { lifecycle: 'lc-owner' });
    await release(mine, 'lc-intruder');
    assert.is(await allocatedIn(MAIN), 1);
    assert.is((await allocate('next')).prefix, mainSlash56(1), 'the block is still taken');
    assert.equal(await allocate('owner', { lifecycle: 'lc-owner' }), mine);
  });

  test('utilization() reports capacity and allocated blocks of every pool', async () => {
    await allocate('u0');
    const u1 = await allocate('u1');
    await allocate('u2');
    await allocate('ut', { pool: TINY, length: 64 });
    await release(u1, 'lc-u1');
    const figures = (await ipam().utilization())
      .filter((u) => u.name === MAIN || u.name === TINY)
      .map(({ name, prefix, prefixLength, capacity, allocated }) => ({ name, prefix, prefixLength, capacity, allocated }))
      .sort((a, b) => a.name.localeCompare(b.name));
    assert.equal(figures, [
      { name: MAIN, prefix: '2001:db8::/48', prefixLength: 56, capacity: 256, allocated: 2 },
      { name: TINY, prefix: '2001:db8:ffff::/62', prefixLength: 64, capacity: 4, allocated: 1 },
    ]);
  });

  test('markedPrefixes() lists every prefix allocated and not given back, with its lifecycle and key', async () => {
    const gone = await allocate('h0');
    const kept = await allocate('h1');
    const tiny = await allocate('h2', { pool: TINY, length: 64 });
    await release(gone, 'lc-h0');
    const listed = await ipam().markedPrefixes();
    for (const m of listed) {
      assert.ok(markedUnder(m, m.lifecycleId.replace(/^lc-/, '')), `${m.prefix} names the key it was allocated under`);
      assert.not.ok(markedUnder(m, 'h9'), `${m.prefix} does not match another key`);
    }
    const marked = listed
      .map(({ pool, prefix, lifecycleId }) => ({ pool, prefix, lifecycleId }))
      .sort((a, b) => `${a.pool} ${a.prefix}`.localeCompare(`${b.pool} ${b.prefix}`));
    assert.equal(marked, [
      { pool: MAIN, prefix: kept.prefix, lifecycleId: 'lc-h1' },
      { pool: TINY, prefix: tiny.prefix, lifecycleId: 'lc-h2' },
    ]);
  });

  test('allocate() called 200 times at once gives 200 distinct prefixes, the first 200 blocks', async () => {
    const all = await Promise.all(Array.from({ length: 200 }, (_, i) => allocate(`c${i}`)));
    const prefixes = all.map((a) => a.prefix);
    assert.is(new Set(prefixes).size, 200);
    assert.equal([...prefixes].sort(), Array.from({ length: 200 }, (_, i) => mainSlash56(i)).sort());
    assert.is(await allocatedIn(MAIN), 200);
  });

  ipamAdoptContract(test, { ipam, allocate, release, allocatedIn, rejects, main: MAIN });

  test.run();
}
