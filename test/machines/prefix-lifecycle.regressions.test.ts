import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AllocationAttempt, ReleaseInput } from '../../machines/types.ts';
import { NO_REPLY, REFUSED, UPDATE } from './support/model.ts';
import { apply, finishStep, flush, startLifecycle } from './support/run-path.ts';
import { activeLifecycle, allocations, context, loseAllocation, revoke, running, state } from './support/stories.ts';

// Behaviours the model-based paths cover step by step, stated here as whole stories. Most were bugs
// of an earlier machine: a lost allocation answer leaked a prefix, an update reused the keys of the
// previous attempt, a failed release named the wrong IPAM.

const FIRST: AllocationAttempt = { key: 'lc-0001:allocate:0', pool: 'residential', prefixLength: 56, generation: 0, ipam: 'embedded' };
const firstUpdate = (generation: number): AllocationAttempt => ({
  key: `lc-0001:allocate:${generation}`,
  pool: UPDATE.pool,
  prefixLength: UPDATE.prefixLength,
  generation,
  ipam: UPDATE.ipam,
});

const lost = suite('prefixLifecycle: a lost allocation answer');

lost('a lost first allocation fails the lifecycle, which remembers the attempt and its key', async () => {
  const lc = startLifecycle();
  await flush();
  const prefix = await loseAllocation(lc);
  assert.is(state(lc), 'failed');
  assert.equal([context(lc).failure?.step, context(lc).failure?.code], ['embedded_allocate', 'timeout']);
  assert.equal(context(lc).unconfirmed, [FIRST]);
  assert.equal([...lc.steps.ledger], [[prefix, 0]], 'IPAM holds it under the key of generation 0');
  lc.actor.stop();
});

lost('RETRY of a lost first allocation adopts what IPAM took: same key, same generation, nothing left unconfirmed', async () => {
  const lc = startLifecycle();
  await flush();
  const prefix = await loseAllocation(lc);
  await apply(lc, { type: 'RETRY' });
  const [first, again] = allocations(lc);
  assert.equal(again, first, 'the same request under the same key');
  await finishStep(lc);
  assert.equal(state(lc), { allocated: 'idle' });
  assert.equal([context(lc).current?.prefix, context(lc).current?.generation, context(lc).generation], [prefix, 0, 0]);
  assert.equal(context(lc).unconfirmed, []);
  assert.equal(lc.steps.held(), [prefix], 'one prefix, not two');
  lc.actor.stop();
});

lost('REVOKE of a lifecycle whose first allocation was lost gives the prefix back', async () => {
  const lc = startLifecycle();
  await flush();
  await loseAllocation(lc);
  const release = await revoke(lc);
  assert.equal([release.prefixes, release.unconfirmed], [[], [FIRST]]);
  assert.equal(lc.steps.held(), [], 'IPAM still holds a prefix for a revoked lifecycle');
  assert.equal(context(lc).unconfirmed, []);
  lc.actor.stop();
});

lost('a lost update allocation is rolled back: the rollback gives it back and the lifecycle keeps its old prefix', async () => {
  const lc = await activeLifecycle();
  const before = context(lc);
  await apply(lc, UPDATE);
  await loseAllocation(lc);
  assert.equal(state(lc), { active: { updateRollback: 'releaseNext' } }, 'nothing else ran: only the allocation is undone');
  assert.equal([context(lc).lastError?.step, context(lc).lastError?.code], ['netbox_allocate', 'timeout']);
  const release = running(lc).input as ReleaseInput;
  assert.equal([release.prefixes, release.unconfirmed], [[], [firstUpdate(1)]]);
  await finishStep(lc);
  assert.equal(state(lc), { active: 'idle' });
  const after = context(lc);
  assert.equal([after.current, after.pool, after.prefixLength, after.ipam], [before.current, before.pool, before.prefixLength, before.ipam]);
  assert.equal([after.next, after.nextRequest, after.unconfirmed], [null, null, []]);
  assert.equal(lc.steps.held(), [before.current!.prefix], 'IPAM holds the old prefix only');
  lc.actor.stop();
});

lost('a lost update allocation whose rollback failed is kept as a pending release, and given back by REVOKE', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  await loseAllocation(lc);
  await finishStep(lc, 'fail');
  // review13: the subscriber is back on the old prefix, so the lifecycle is active; the block waits for IPAM.
  assert.equal([state(lc), context(lc).failedAt, context(lc).unconfirmed], [{ active: 'idle' }, null, []]);
  assert.equal(context(lc).pending.map((p) => p.release?.unconfirmed), [[firstUpdate(1)]]);
  const release = await revoke(lc);
  assert.equal(release.unconfirmed, [firstUpdate(1)]);
  assert.equal(lc.steps.held(), [], 'IPAM still holds a prefix for a revoked lifecycle');
  lc.actor.stop();
});

lost('a timeout that allocated nothing is rolled back all the same, and IPAM keeps only the old prefix', async () => {
  const lc = await activeLifecycle();
  const { current } = context(lc);
  await apply(lc, UPDATE);
  await finishStep(lc, NO_REPLY);
  assert.equal(state(lc), { active: { updateRollback: 'releaseNext' } });
  await finishStep(lc);
  assert.equal([state(lc), context(lc).unconfirmed], [{ active: 'idle' }, []]);
  assert.equal(lc.steps.held(), [current!.prefix]);
  lc.actor.stop();
});

lost('an UPDATE after a lost-answer rollback uses a new generation and never the lost attempt’s key', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  const lostPrefix = await loseAllocation(lc);
  await finishStep(lc);
  await apply(lc, UPDATE);
  assert.equal(allocations(lc).map((a) => a.generation), [0, 1, 2], 'one generation per attempt');
  for (let i = 0; i < 5; i++) await finishStep(lc); // allocate, RADIUS, sessions, CPE, release of the old prefix
  assert.equal(state(lc), { active: 'idle' });
  const { current } = context(lc);
  assert.equal([current?.generation, current?.ipam, context(lc).generation], [2, 'netbox', 2]);
  assert.is.not(current?.prefix, lostPrefix);
  const cpe = lc.steps.calls.filter((c) => c.src === 'configureCpe').map((c) => (c.input as { key: string }).key);
  assert.equal(cpe, ['lc-0001:configurePd:0', 'lc-0001:configurePd:2'], 'the CPE keys follow the attempts too');
  assert.equal([...lc.steps.ledger], [[current!.prefix, 2]], 'IPAM holds the new prefix only');
  lc.actor.stop();
});

lost('an allocation IPAM refuses for certain leaves nothing to give back', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  await finishStep(lc, REFUSED);
  assert.equal([state(lc), context(lc).lastError?.code, context(lc).unconfirmed], [{ active: 'idle' }, 'pool_exhausted', []]);
  assert.equal(lc.steps.calls.filter((c) => c.src !== 'allocatePrefix').map((c) => c.src), ['writeRadiusReply', 'configureCpe'], 'nothing rolled back: only the activation ran');
  await apply(lc, UPDATE);
  assert.equal(allocations(lc).map((a) => a.generation), [0, 1, 2], 'the refused attempt still had its own generation');
  lc.actor.stop();

  // The first allocation refused for certain: nothing is held, the lifecycle closes (the subscriber may ask again).
  const first = startLifecycle();
  await flush();
  await finishStep(first, REFUSED);
  assert.equal([state(first), context(first).unconfirmed, context(first).lastError?.code], ['revoked', [], 'pool_exhausted']);
  assert.equal(first.steps.outstanding(), [], 'no revocation step runs for a lifecycle that never held anything');
  first.actor.stop();
});

lost('a refusal after an earlier try of the key lost its answer closes through revocation, which gives that prefix back', async () => {
  const lc = startLifecycle();
  await flush();
  const prefix = await loseAllocation(lc);
  await apply(lc, { type: 'RETRY' });
  await finishStep(lc, REFUSED);
  assert.equal(state(lc), { revoking: 'release' });
  const release = running(lc).input as ReleaseInput;
  assert.equal(release.unconfirmed, [FIRST]);
  for (let i = 0; i < 5; i++) await finishStep(lc);
  assert.is(state(lc), 'revoked');
  assert.equal(lc.steps.held(), [], `IPAM still holds ${prefix}`);
  lc.actor.stop();
});

lost.run();

const names = suite('prefixLifecycle: failure names and keys');

names('a failed release of the retired prefix names the IPAM that holds it', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE); // embedded → netbox
  for (let i = 0; i < 4; i++) await finishStep(lc);
  assert.equal(state(lc), { active: 'updateRelease' });
  await finishStep(lc, 'fail');
  assert.is(context(lc).failure?.step, 'embedded_release', 'the retired prefix lives in the embedded IPAM');
  lc.actor.stop();
});

names('a failed update allocation names the IPAM it asked', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  await finishStep(lc, REFUSED);
  assert.is(context(lc).lastError?.step, 'netbox_allocate');
  lc.actor.stop();
});

names('a queued CPE command keeps the key of the attempt that queued it', async () => {
  const lc = await activeLifecycle('queued');
  assert.equal(context(lc).pending.map((p) => [p.step, p.generation]), [['cpe_configure_pd', 0]]);
  await apply(lc, UPDATE);
  await finishStep(lc, REFUSED);
  await apply(lc, UPDATE);
  await loseAllocation(lc);
  await finishStep(lc);
  assert.is(context(lc).generation, 2);
  assert.equal(context(lc).pending.map((p) => [p.step, p.generation]), [['cpe_configure_pd', 0]], 'later attempts do not change its key');
  lc.actor.stop();
});

names.run();
