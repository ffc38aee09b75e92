// An allocation gives back a batch of expired hold-downs (commit 661aabf), but took batch after
// batch while none of them fitted: a pool whose parent moved, full, with its old blocks expired,
// gave every one of them back inside the group commit's savepoint (24,000: 6 s with the journal in
// memory). Made at once it now takes one batch; the ordinary step, in a transaction of its own,
// takes the rest.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { ALLOCATION_GIVE_BACK, type EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import { allocate, rejectsWith, release, scratchDb } from '../services/ipam/embedded-support.ts';

const test = suite('review14 savepoint: an allocation made at once gives back one batch, fitting or not');
const s = scratchDb(test);
const OLD: EmbeddedPool = { name: 'p', prefix: '2001:db8::/40', prefixLength: 56, holdDownS: 60, sticky: false };
const MOVED: EmbeddedPool = { ...OLD, prefix: '2001:db9::/48' };
const N = 1_000;

const expired = (now: number) => (s.db().prepare('SELECT count(*) AS n FROM ipam_quarantine WHERE reusable_at <= ?').get(new Date(now).toISOString()) as { n: number }).n;

test('a full pool whose old blocks expired outside its moved parent: one batch in the savepoint, the rest in the step\'s own transaction', async () => {
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  let ipam = createEmbeddedIpam(s.db(), [OLD], { now: () => clock.t });
  const made: { key: string; prefix: string }[] = [];
  for (let i = 0; i < N; i++) made.push({ key: `k${i}`, prefix: (await allocate(ipam, `k${i}`, 'p', 56)).prefix });
  for (const m of made) await release(ipam, m.key, 'p', m.prefix);
  ipam = s.reopen([MOVED], { now: () => clock.t });
  for (let i = 0; i < 256; i++) await allocate(ipam, `new${i}`, 'p', 56);
  clock.t += 61_000;
  assert.is(expired(clock.t), N);

  // As the group commit does: the allocation in its own savepoint inside the batch's transaction.
  const cmd = { key: 'after', lifecycleId: 'lc-after', subscriberId: 'sub-after', pool: 'p', prefixLength: 56 };
  let insideSavepoint = -1;
  s.db().transaction(() => {
    try {
      s.db().transaction(() => {
        try {
          ipam.allocateNow!(cmd);
        } finally {
          insideSavepoint = N - expired(clock.t);
        }
      })();
    } catch {
      // exhausted: the group commit leaves it to the ordinary step
    }
  })();
  assert.ok(insideSavepoint <= ALLOCATION_GIVE_BACK, `expired hold-downs given back inside the savepoint: ${insideSavepoint}, at most ${ALLOCATION_GIVE_BACK}`);

  // The ordinary step, in its own transaction, finds the pool exhausted, as it is.
  await rejectsWith(allocate(ipam, 'after', 'p', 56), 'pool_exhausted');
  for (let i = 0; i < 100 && expired(clock.t) > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.is(expired(clock.t), 0, 'the expired blocks all left the quarantine');
});

test('made at once, a batch that fits still allocates', async () => {
  const small: EmbeddedPool = { ...OLD, prefix: '2001:db8::/48' };
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  const ipam = createEmbeddedIpam(s.db(), [small], { now: () => clock.t });
  const made: { key: string; prefix: string }[] = [];
  for (let i = 0; i < 256; i++) made.push({ key: `k${i}`, prefix: (await allocate(ipam, `k${i}`, 'p', 56)).prefix });
  for (const m of made) await release(ipam, m.key, 'p', m.prefix);
  clock.t += 61_000;
  const got = s.db().transaction(() => ipam.allocateNow!({ key: 'again', lifecycleId: 'lc-again', subscriberId: 'sub-again', pool: 'p', prefixLength: 56 }))();
  assert.is(got?.prefix, '2001:db8::/56');
});

test.run();
