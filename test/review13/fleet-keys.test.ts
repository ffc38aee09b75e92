// Review 13, several instances from outside: an Idempotency-Key replayed on another instance while
// the first instance still runs the update, and while it is frozen past its lease; then a
// PostgreSQL restart (pg_ctl restart) under keyed load. Afterwards one prefix each, IPAM = store.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { LEASE_MS } from '../support/instances-config.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, sleep } from '../support/instances.ts';
import { active, db, eventsOf, on, reviewRig, rig, why } from '../e2e/instances-review-support.ts';

const test = suite('review13: fleet keys replayed across instances, and a PostgreSQL restart');
const up = reviewRig(test);

async function oneChain(s: string): Promise<string[]> {
  const all = await db.audit(s);
  const last = all.filter((r) => r.lifecycle_id === all.at(-1)!.lifecycle_id);
  const lc = await db.lifecycleOf(s);
  return chainProblems(s, last.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), lc!.state);
}

test('a keyed update replayed on another instance while the first still runs it → the update\'s 200, done once', async () => {
  if (!(await up())) return;
  const s = 'keys-upd-running';
  const { lifecycle } = await active(on(0), s);
  rig!.acs.delayMs = 2000;
  const key = { 'Idempotency-Key': 'review13-upd-running' };
  const first = await on(0).call('POST', 'update?wait=0', { subscriber_id: s }, key);
  assert.is(first.status, 202);
  await sleep(300);
  const replay = await on(1).call('POST', 'update?wait=20000', { subscriber_id: s }, key);
  rig!.acs.delayMs = 0;
  assert.equal([replay.status, replay.body?.state], [200, 'active'], `${JSON.stringify(replay.body)}${why()}`);
  assert.is.not(replay.body.prefix, lifecycle.prefix);
  const lc = await db.lifecycleOf(s);
  assert.is(lc!.prefix, replay.body.prefix);
  assert.equal((await db.quarantined(lc!.id)).map((q) => q.prefix), [lifecycle.prefix]);
  assert.equal(await oneChain(s), []);
  assert.equal(await ipamAgreesWithStore(db), []);
});

test('a keyed update whose instance is frozen past its lease, replayed elsewhere → finished once by another; thawed, the frozen one changes nothing', async () => {
  if (!(await up())) return;
  const s = 'keys-upd-frozen';
  const { lifecycle } = await active(on(0), s);
  rig!.acs.delayMs = 1500;
  const key = { 'Idempotency-Key': 'review13-upd-frozen' };
  const first = await on(0).call('POST', 'update?wait=0', { subscriber_id: s }, key);
  assert.is(first.status, 202);
  await sleep(300);
  on(0).freeze();
  let replay;
  try {
    await sleep(LEASE_MS * 1.5);
    rig!.acs.delayMs = 0;
    replay = await on(1).call('POST', 'update?wait=30000', { subscriber_id: s }, key);
  } finally {
    on(0).thaw();
  }
  assert.equal([replay.status, replay.body?.state], [200, 'active'], `${JSON.stringify(replay.body)}${why()}`);
  const trail = (await db.audit(s)).length;
  await sleep(LEASE_MS * 2);
  const again = await on(0).call('POST', 'update?wait=20000', { subscriber_id: s }, key);
  assert.equal([again.status, again.body?.prefix], [200, replay.body.prefix], `the key's answer on the thawed one: ${JSON.stringify(again.body)}`);
  assert.is((await db.audit(s)).length, trail, 'the thawed instance wrote nothing more');
  const lc = await db.lifecycleOf(s);
  assert.equal([lc!.state, lc!.prefix], ['active', replay.body.prefix]);
  assert.equal((await db.quarantined(lc!.id)).map((q) => q.prefix), [lifecycle.prefix]);
  assert.equal(await oneChain(s), []);
  assert.equal(await ipamAgreesWithStore(db), []);
});

test('pg_ctl restart under keyed load over the three instances → the same PIDs serve again, /readyz 200; every operation done once', async () => {
  if (!(await up())) return;
  const pids = rig!.fleet.instances.map((i) => i.pid);
  const subs = Array.from({ length: 24 }, (_, i) => `keys-pg-${i}`);
  const ops = [['allocate', {}], ['activate', {}], ['update', {}], ['suspend', {}], ['reactivate', {}]] as const;
  const failures: string[] = [];
  const ready: number[] = [];
  let probing = true;
  const probe = (async () => {
    while (probing && rig) {
      for (const i of rig.fleet.instances) ready.push((await fetch(`${i.origin}/readyz`).catch(() => ({ status: 0 }))).status);
      await sleep(100);
    }
  })();
  const load = Promise.all(subs.map(async (s, n) => {
    for (const [k, [op, extra]] of ops.entries()) {
      const key = { 'Idempotency-Key': `review13-pg-${s}-${k}` };
      const deadline = Date.now() + 60_000;
      for (let t = n + k; ; t++) {
        const a = await on(t).call('POST', `${op}?wait=5000`, { subscriber_id: s, ...(op === 'activate' ? { username: `${s}@isp` } : {}), ...extra }, key).catch(() => ({ status: 0, body: null }));
        if (a.status === 200 || a.status === 201) break;
        if ((a.status > 0 && a.status < 500 && a.status !== 202) || Date.now() > deadline) {
          failures.push(`${s} ${op}: ${a.status} ${JSON.stringify(a.body)}`);
          return;
        }
        await sleep(200);
      }
    }
  }));
  await sleep(1500);
  // What `pg_ctl restart` (its default fast mode) does: SIGINT to the postmaster, then start it again.
  const postmaster = rig!.cluster.pid;
  process.kill(postmaster, 'SIGINT');
  while ((() => { try { process.kill(postmaster, 0); return true; } catch { return false; } })()) await sleep(50);
  await rig!.cluster.restart();
  await load;
  probing = false;
  await probe;
  assert.equal(failures, [], why());
  assert.equal(rig!.fleet.instances.map((i) => i.pid), pids, 'no instance restarted');
  // Ready again within a probe or two: one that started under the load may still wait for a
  // connection of the busy pool (its last answer stands until it ends, 10 s at most).
  const readyz = () =>
    Promise.all(rig!.fleet.instances.map(async (i) => {
      const r = await fetch(`${i.origin}/readyz`);
      return `${i.name} ${r.status} ${await r.text()}`;
    }));
  let late: string[] = [];
  await eventually('/readyz 200 everywhere', 15_000, async () => ((late = await readyz()).every((l) => / 200 /.test(l)) ? true : undefined)).catch(() => undefined);
  assert.equal(late.filter((l) => !/ 200 /.test(l)), [], `/readyz once the load is through: ${late.join('\n')}`);
  for (const s of subs) {
    const lc = await db.lifecycleOf(s);
    assert.is(lc!.state, 'active', s);
    assert.equal(await oneChain(s), [], s);
    assert.is(await eventsOf(s, 'UPDATE'), 1, `${s} updated once`);
    assert.is((await db.quarantined(lc!.id)).length, 1, `${s}: one old prefix quarantined`);
  }
  assert.equal(await ipamAgreesWithStore(db), []);
  const leaks = await on(1).call('POST', 'jobs/leaks', {});
  assert.is(leaks.status, 200);
  assert.equal(await ipamAgreesWithStore(db), []);
  console.log(`readyz during the restart: ${ready.filter((r) => r !== 200).length} not-200 of ${ready.length}`);
});

test.run();
