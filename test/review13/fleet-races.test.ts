// Review 13, several instances from outside: two operations on one subscriber sent to two
// instances at once (activate/revoke, update/suspend), and an owner frozen past its lease in the
// middle of an update. After each: one outcome, one live prefix, IPAM = store, no leak, one chain.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { LEASE_MS } from '../support/instances-config.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, sleep } from '../support/instances.ts';
import { active, db, on, reviewRig, rig, why } from '../e2e/instances-review-support.ts';

const test = suite('review13: fleet races on one subscriber across instances');
const up = reviewRig(test);

async function settled(s: string) {
  const trail = (await db.audit(s)).filter((r, _, all) => r.lifecycle_id === all.at(-1)!.lifecycle_id);
  const lc = await db.lifecycleOf(s);
  const problems = chainProblems(s, trail.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), lc!.state);
  problems.push(...(await ipamAgreesWithStore(db)));
  const two = await db.subscribersWithTwoLive();
  if (two.length) problems.push(`two live lifecycles: ${two.join(', ')}`);
  const leaks = await on(2).call('POST', 'jobs/leaks', {});
  if (leaks.status !== 200) problems.push(`leaks job answered ${leaks.status}`);
  return { lc: lc!, problems, leaks: leaks.body };
}

test('activate on one instance and revoke on another at once → serialized: revoked at the end, nothing held, one chain', async () => {
  if (!(await up())) return;
  const s = 'race-act-rev';
  const cpe = rig!.acs.addDevice();
  const a = await on(0).call('POST', 'allocate?wait=30000', { subscriber_id: s });
  assert.is(a.status, 201);
  rig!.acs.delayMs = 800;
  const [act, rev] = await Promise.all([
    on(0).call('POST', 'activate?wait=30000', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id }),
    sleep(50).then(() => on(1).call('POST', 'revoke?wait=30000', { subscriber_id: s })),
  ]);
  rig!.acs.delayMs = 0;
  assert.ok([200, 409].includes(act.status), `activate ${act.status} ${JSON.stringify(act.body)}${why()}`);
  assert.equal([rev.status, rev.body?.state], [200, 'revoked'], `revoke ${rev.status} ${JSON.stringify(rev.body)}${why()}`);
  const r = await settled(s);
  assert.is(r.lc.state, 'revoked');
  assert.equal(r.problems, [], `${JSON.stringify(r.leaks)}`);
});

test('update on one instance and suspend on another at once → serialized: suspended with exactly one prefix; the other freed', async () => {
  if (!(await up())) return;
  const s = 'race-upd-sus';
  const { lifecycle } = await active(on(0), s);
  rig!.acs.delayMs = 800;
  const [upd, sus] = await Promise.all([
    on(0).call('POST', 'update?wait=30000', { subscriber_id: s }),
    sleep(50).then(() => on(1).call('POST', 'suspend?wait=30000', { subscriber_id: s, reason: 'unpaid' })),
  ]);
  rig!.acs.delayMs = 0;
  assert.equal([upd.status, upd.body?.state], [200, 'active'], `update ${upd.status} ${JSON.stringify(upd.body)}${why()}`);
  assert.equal([sus.status, sus.body?.state], [200, 'suspended'], `suspend ${sus.status} ${JSON.stringify(sus.body)}${why()}`);
  assert.is(sus.body.prefix, upd.body.prefix, 'the suspension keeps the updated prefix');
  assert.is.not(upd.body.prefix, lifecycle.prefix);
  const r = await settled(s);
  assert.equal([r.lc.state, r.lc.prefix], ['suspended', upd.body.prefix]);
  assert.equal(r.problems, [], `${JSON.stringify(r.leaks)}`);
  const q = await db.quarantined(r.lc.id);
  assert.equal(q.map((x) => x.prefix), [lifecycle.prefix], 'the old prefix quarantined, once');
});

test('allocate on two instances at once, then update frozen past its lease (SIGSTOP) → another finishes it; thawed, its writes refused; one prefix', async () => {
  if (!(await up())) return;
  const s = 'race-freeze-upd';
  const [x, y] = await Promise.all([0, 1].map((i) => on(i).call('POST', 'allocate?wait=30000', { subscriber_id: s })));
  assert.equal([x!.status, y!.status].sort(), [200, 201]);
  assert.is(x!.body.prefix, y!.body.prefix);
  const cpe = rig!.acs.addDevice();
  const act = await on(1).call('POST', 'activate?wait=30000', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.is(act.status, 200);
  rig!.acs.delayMs = 1500;
  const upd = await on(0).call('POST', 'update?wait=0', { subscriber_id: s });
  assert.is(upd.status, 202);
  await sleep(300);
  on(0).freeze();
  try {
    await sleep(LEASE_MS * 2.5);
    rig!.acs.delayMs = 0;
    await eventually('another instance finishes the update', 20_000, async () => {
      const g = await on(1).call('GET', `lifecycle/${s}`);
      return g.body?.state === 'active' && g.body.prefix !== x!.body.prefix ? g.body : undefined;
    });
  } finally {
    on(0).thaw();
  }
  await sleep(LEASE_MS * 2);
  const after = await on(2).call('GET', `lifecycle/${s}`);
  assert.equal(after.body?.state, 'active', `${JSON.stringify(after.body)}${why()}`);
  const r = await settled(s);
  assert.equal(r.problems, [], `${JSON.stringify(r.leaks)}${why()}`);
  assert.is((await db.audit(s)).filter((e) => e.type.startsWith('UPDATE') && e.to_state === 'active').length >= 1, true);
});

test('the API summary (GET /api/…/metrics) on each instance → the same fleet figures; /metrics: one leader, one leak total', async () => {
  if (!(await up())) return;
  const sums = await Promise.all(rig!.fleet.instances.map((i) => i.call('GET', 'metrics')));
  const fig = (b: any) => JSON.stringify({ states: b.states, pools: b.pools?.map((p: any) => [p.name, p.allocated, p.held_down]), leaks: b.leaks });
  assert.equal(sums.map((r) => r.status), [200, 200, 200]);
  assert.equal(sums.map((r) => fig(r.body)), sums.map(() => fig(sums[0]!.body)), sums.map((r) => fig(r.body)).join('\n'));
  const { rows } = await db.pool.query("SELECT state, count(*)::int AS n FROM lifecycles WHERE state <> 'revoked' GROUP BY state");
  for (const r of rows) assert.is(sums[0]!.body.states[r.state], r.n, `${r.state}: ${JSON.stringify(sums[0]!.body.states)}`);
  const texts = await Promise.all(rig!.fleet.instances.map(async (i) => (await fetch(`${i.origin}/metrics`)).text()));
  const value = (t: string, name: string) => Number(t.split('\n').find((l) => l.startsWith(`${name} `))?.split(' ').at(-1) ?? NaN);
  assert.is(texts.reduce((n, t) => n + value(t, 'ipv6_instance_leader'), 0), 1, 'one leader');
  assert.equal(new Set(texts.map((t) => value(t, 'ipv6_prefix_leak_total'))).size, 1, 'the stored leak total on every instance');
});

test.run();
