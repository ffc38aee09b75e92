// Review 14, several instances: `in_progress` (b79ef2d) is read off the stored state, so every
// instance tells the same. While an update runs on A, B and C say `update` (GET and list); A is
// SIGKILLed mid-update, another instance resumes it, and `in_progress` goes null once it settled:
// never null while the step still calls the ACS, never non-null after it settled. A keyed 202
// replayed on another instance answers for the same operation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, sleep } from '../support/instances.ts';
import { active, cpeCalls, db, on, reviewRig, rig, why } from '../e2e/instances-review-support.ts';

const test = suite('review14: fleet in_progress across instances and a SIGKILL mid-update');
const up = reviewRig(test);

async function oneChain(s: string): Promise<string[]> {
  const all = await db.audit(s);
  const last = all.filter((r) => r.lifecycle_id === all.at(-1)!.lifecycle_id);
  const lc = await db.lifecycleOf(s);
  return chainProblems(s, last.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), lc!.state);
}

test('update on A: B and C show in_progress; A SIGKILLed; the resumer settles it and in_progress goes null exactly then', async () => {
  if (!(await up())) return;
  const s = 'ip-fleet-kill';
  const { cpe, lifecycle } = await active(on(0), s);
  rig!.acs.delayMs = 1500;
  const key = { 'Idempotency-Key': 'review14-ip-fleet-kill' };
  const from = rig!.acs.requests.length;
  const first = await on(0).call('POST', 'update?wait=0', { subscriber_id: s }, key);
  assert.is(first.status, 202, JSON.stringify(first.body));
  assert.is(first.body.in_progress, 'update');
  await eventually('the update reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
  for (const i of [1, 2]) {
    const got = await on(i).call('GET', `lifecycle/${s}`);
    assert.equal([got.status, got.body?.state, got.body?.in_progress], [200, 'active', 'update'], `GET on ${on(i).name}: ${JSON.stringify(got.body)}`);
    const list = await on(i).call('GET', 'lifecycle?state=active&limit=200');
    const item = list.body?.items?.find((x: any) => x.subscriber_id === s);
    assert.is(item?.in_progress, 'update', `list on ${on(i).name}: ${JSON.stringify(item)}`);
  }
  // Replayed on B while A runs it: the same operation, still running (202) or its settled 200.
  const replay = await on(1).call('POST', 'update?wait=0', { subscriber_id: s }, key);
  assert.ok([200, 202].includes(replay.status), `replay on B: ${replay.status} ${JSON.stringify(replay.body)}`);
  if (replay.status === 202) assert.is(replay.body.in_progress, 'update', JSON.stringify(replay.body));
  await on(0).kill();
  rig!.acs.delayMs = 300;
  // Sample B until it settles: each sample with the ACS calls seen so far.
  const samples: { t: number; inProgress: string | null; state: string; prefix: string; acs: number }[] = [];
  const t0 = Date.now();
  for (;;) {
    const acs = cpeCalls(cpe.id, from);
    const got = await on(1).call('GET', `lifecycle/${s}`);
    assert.is(got.status, 200);
    samples.push({ t: Date.now() - t0, inProgress: got.body.in_progress, state: got.body.state, prefix: got.body.prefix, acs });
    if (got.body.in_progress === null && samples.filter((x) => x.inProgress === null).length >= 20) break;
    if (Date.now() - t0 > 40_000) break;
    await sleep(25);
  }
  rig!.acs.delayMs = 0;
  const firstNull = samples.findIndex((x) => x.inProgress === null);
  assert.ok(firstNull >= 0, `in_progress never went null in 40 s: ${JSON.stringify(samples.slice(-3))}${why()}`);
  assert.equal(samples.slice(firstNull).filter((x) => x.inProgress !== null), [], 'once null, it stays null');
  const settledAt = samples[firstNull]!;
  assert.is(settledAt.state, 'active');
  assert.is.not(settledAt.prefix, lifecycle.prefix, 'null only with the update done (new prefix)');
  // No outside call of the update after it read null (the step was over).
  assert.is(cpeCalls(cpe.id, from), settledAt.acs, `ACS calls after in_progress read null${why()}`);
  const lc = await db.lifecycleOf(s);
  assert.equal([lc!.state, lc!.prefix], ['active', settledAt.prefix]);
  assert.equal(await oneChain(s), []);
  // The key replayed on C after it settled: the update's answer, done once.
  const after = await on(2).call('POST', 'update?wait=20000', { subscriber_id: s }, key);
  assert.equal([after.status, after.body?.prefix, after.body?.in_progress], [200, settledAt.prefix, null], JSON.stringify(after.body));
  assert.is((await db.audit(s)).filter((r) => r.type === 'UPDATE').length, 1, 'updated once');
  assert.equal(await db.subscribersWithTwoLive(), []);
  await on(0).start();
  const leaks = await on(1).call('POST', 'jobs/leaks', {});
  assert.is(leaks.status, 200, JSON.stringify(leaks.body));
  assert.equal([leaks.body?.counts?.leaked, leaks.body?.counts?.reclaimed], [0, 0], JSON.stringify(leaks.body));
  assert.equal(await ipamAgreesWithStore(db), []);
  console.log(`in_progress null after ${settledAt.t} ms from the SIGKILL, ${samples.length} samples`);
});

test('activate on A: B and C say activate; A SIGKILLed; null on C only once it is active and the ACS is no longer called', async () => {
  if (!(await up())) return;
  const s = 'ip-fleet-kill-activate';
  const cpe = rig!.acs.addDevice();
  const a = await on(0).call('POST', 'allocate?wait=30000', { subscriber_id: s });
  assert.is(a.status, 201, JSON.stringify(a.body));
  rig!.acs.delayMs = 1500;
  const from = rig!.acs.requests.length;
  const b = await on(0).call('POST', 'activate?wait=0', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.equal([b.status, b.body?.in_progress], [202, 'activate'], JSON.stringify(b.body));
  await eventually('the activation reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
  for (const i of [1, 2]) assert.is((await on(i).call('GET', `lifecycle/${s}`)).body?.in_progress, 'activate', on(i).name);
  await on(0).kill();
  rig!.acs.delayMs = 300;
  const t0 = Date.now();
  let settled: { state: string; acs: number } | null = null;
  while (Date.now() - t0 < 40_000) {
    const acs = cpeCalls(cpe.id, from);
    const got = await on(2).call('GET', `lifecycle/${s}`);
    if (settled) assert.is(got.body.in_progress, null, 'once null, it stays null');
    else if (got.body.in_progress === null) settled = { state: got.body.state, acs };
    if (settled && Date.now() - t0 > 8000) break;
    await sleep(25);
  }
  rig!.acs.delayMs = 0;
  assert.ok(settled, `in_progress never went null${why()}`);
  assert.is(settled!.state, 'active');
  assert.is(cpeCalls(cpe.id, from), settled!.acs, 'no ACS call after in_progress read null');
  assert.equal(await oneChain(s), []);
  await on(0).start();
  assert.equal(await ipamAgreesWithStore(db), []);
});

test.run();
