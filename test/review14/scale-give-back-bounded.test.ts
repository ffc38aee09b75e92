// The first allocation after many hold-downs had ended gave every expired block back inside its own
// transaction: inside the group commit's savepoint, with the journal in memory, that costs
// quadratically (35,000 blocks froze the service for 62 s; clients got 400s for requests it then
// carried out). An allocation now gives back a bounded batch and leaves the rest to a sweep of its
// own transactions, started at once; the figures stay exact meanwhile. Made at once (in the
// savepoint) it takes that one batch even when nothing in it fits (a pool whose parent moved).
// Review15 (moved15): the ordinary allocation still took batch after batch in its one transaction
// while none fitted (16,000 blocks outside a moved parent: 1.75 s of the event loop blocked); it
// now takes one batch too and leaves the rest to the sweep's transactions before it looks again.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { ALLOCATION_GIVE_BACK, SWEEP_BATCH, type EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import type { Db } from '../../store/db.ts';
import { allocate, assertTiles, rejectsWith, release, scratchDb } from '../services/ipam/embedded-support.ts';

const test = suite('review14 scale: an allocation gives back a bounded batch of expired hold-downs');
const s = scratchDb(test);
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/40', prefixLength: 56, holdDownS: 60, sticky: false };
const N = 1_000;

/** `n` blocks allocated in the pool, then all released (their hold-downs start now). */
async function allocateAndRelease(ipam: IpamPort, n: number, key = 'k'): Promise<void> {
  const made: { key: string; prefix: string }[] = [];
  for (let i = 0; i < n; i++) made.push({ key: `${key}${i}`, prefix: (await allocate(ipam, `${key}${i}`, 'p', 56)).prefix });
  for (const m of made) await release(ipam, m.key, 'p', m.prefix);
}

const expiredLeft = (now: number) => (s.db().prepare('SELECT count(*) AS n FROM ipam_quarantine WHERE reusable_at <= ?').get(new Date(now).toISOString()) as { n: number }).n;

test('allocateNow inside a transaction gives back at most a batch; the rest is swept apart, and the figures hold throughout', async () => {
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  const ipam = createEmbeddedIpam(s.db(), [POOL], { now: () => clock.t });
  await allocateAndRelease(ipam, N);
  clock.t += 61_000;
  assert.is(expiredLeft(clock.t), N);

  // As the group commit does: the allocation inside the caller's transaction.
  const got = s.db().transaction(() => ipam.allocateNow!({ key: 'after', lifecycleId: 'lc-after', subscriberId: 'sub-after', pool: 'p', prefixLength: 56 }))();
  assert.is(got?.prefix, '2001:db8::/56', 'first fit still finds the lowest block given back');
  assert.ok(ALLOCATION_GIVE_BACK < N);
  assert.is(expiredLeft(clock.t), N - ALLOCATION_GIVE_BACK, 'one batch given back, not every expired block');
  const [during] = await ipam.utilization();
  assert.equal({ allocated: during!.allocated, heldDown: during!.heldDown }, { allocated: 1, heldDown: 0 }, 'expired blocks left in the quarantine count as free');

  // The sweep started by the allocation drains the rest in its own transactions.
  for (let i = 0; i < 100 && expiredLeft(clock.t) > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(expiredLeft(clock.t), 0);
  const [after] = await ipam.utilization();
  assert.equal({ allocated: after!.allocated, heldDown: after!.heldDown }, { allocated: 1, heldDown: 0 });
  assertTiles(s.db(), POOL);
});

test('a pool with no free space left but many expired blocks still allocates (one batch suffices)', async () => {
  const small: EmbeddedPool = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 60, sticky: false };
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  const ipam = createEmbeddedIpam(s.db(), [small], { now: () => clock.t });
  await allocateAndRelease(ipam, 256);
  clock.t += 61_000;
  const got = await allocate(ipam, 'again', 'p', 56);
  assert.is(got.prefix, '2001:db8::/56');
  assertTiles(s.db(), small);
});

test("made at once in a full pool whose old blocks expired outside its moved parent: one batch in the savepoint, the rest in the step's own transaction", async () => {
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  await allocateAndRelease(createEmbeddedIpam(s.db(), [POOL], { now: () => clock.t }), N);
  const ipam = s.reopen([{ ...POOL, prefix: '2001:db9::/48' }], { now: () => clock.t });
  for (let i = 0; i < 256; i++) await allocate(ipam, `new${i}`, 'p', 56);
  clock.t += 61_000;
  assert.is(expiredLeft(clock.t), N);
  // As the group commit does: the allocation in its own savepoint inside the batch's transaction.
  let insideSavepoint = -1;
  s.db().transaction(() => {
    try {
      s.db().transaction(() => {
        try {
          ipam.allocateNow!({ key: 'after', lifecycleId: 'lc-after', subscriberId: 'sub-after', pool: 'p', prefixLength: 56 });
        } finally {
          insideSavepoint = N - expiredLeft(clock.t);
        }
      })();
    } catch {
      // exhausted: the group commit leaves it to the ordinary step
    }
  })();
  assert.ok(insideSavepoint <= ALLOCATION_GIVE_BACK, `expired hold-downs given back inside the savepoint: ${insideSavepoint}, at most ${ALLOCATION_GIVE_BACK}`);
  // The ordinary step, in its own transaction, finds the pool exhausted, as it is.
  await rejectsWith(allocate(ipam, 'after', 'p', 56), 'pool_exhausted');
  for (let i = 0; i < 100 && expiredLeft(clock.t) > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(expiredLeft(clock.t), 0, 'the expired blocks all left the quarantine');
});

/** The connection, its every transaction (the IPAM prepares them at its start) recording the quarantined rows it removed. */
function countingRows(db: Db): { db: Db; perTransaction: number[] } {
  const perTransaction: number[] = [];
  const left = () => (db.prepare('SELECT count(*) AS n FROM ipam_quarantine').get() as { n: number }).n;
  const counted = new Proxy(db, {
    get(target, key) {
      if (key === 'transaction') {
        return (fn: (...args: unknown[]) => unknown) =>
          target.transaction((...args: unknown[]) => {
            const before = left();
            try {
              return fn(...args);
            } finally {
              perTransaction.push(before - left());
            }
          });
      }
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { db: counted, perTransaction };
}

/** N blocks of the old /40 expired outside the moved /48, and its own 256 blocks all allocated (`freed`: of them, freed too and expired). */
async function movedAndExpired(freed: number): Promise<{ ipam: IpamPort; perTransaction: number[]; clock: { t: number } }> {
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  await allocateAndRelease(createEmbeddedIpam(s.db(), [POOL], { now: () => clock.t }), N);
  const moved = { ...POOL, prefix: '2001:db9::/48' };
  s.reopen([moved], { now: () => clock.t });
  const { db, perTransaction } = countingRows(s.db());
  const ipam = createEmbeddedIpam(db, [moved], { now: () => clock.t });
  const made = [];
  for (let i = 0; i < 256; i++) made.push((await allocate(ipam, `new${i}`, 'p', 56)).prefix);
  for (let i = 256 - freed; i < 256; i++) await release(ipam, `new${i}`, 'p', made[i]!);
  clock.t += 61_000;
  assert.is(expiredLeft(clock.t), N + freed);
  perTransaction.length = 0;
  return { ipam, perTransaction, clock };
}

test('the ordinary allocation in a full pool whose old blocks expired outside its moved parent: one batch in its transaction, the sweep\'s own take the rest', async () => {
  const { ipam, perTransaction, clock } = await movedAndExpired(0);
  const refused = rejectsWith(allocate(ipam, 'after', 'p', 56), 'pool_exhausted');
  // allocate() ran its first transaction before it returned the promise.
  assert.equal(perTransaction, [ALLOCATION_GIVE_BACK], 'the allocation\'s transaction gave back one batch');
  await refused;
  assert.is(expiredLeft(clock.t), 0, 'the sweep gave back the rest before the refusal');
  assert.ok(Math.max(...perTransaction) <= SWEEP_BATCH, `rows given back per transaction: ${perTransaction.join(', ')}`);
  assert.is(perTransaction.reduce((a, b) => a + b, 0), N);
});

test('the same pool with blocks of its own expired behind the old ones: the allocation still gets the lowest of them', async () => {
  const { ipam, perTransaction } = await movedAndExpired(10);
  assert.is((await allocate(ipam, 'after', 'p', 56)).prefix, '2001:db9:0:f600::/56', 'first fit over every expired block, as before');
  assert.ok(Math.max(...perTransaction) <= SWEEP_BATCH, `rows given back per transaction: ${perTransaction.join(', ')}`);
  assertTiles(s.db(), { name: 'p', prefix: '2001:db9::/48' });
});

test.run();
