// A review of issue 11 from outside, the fleet's leader and its jobs: /metrics summed over the
// instances, the leader killed or frozen, the pending job taking over a dead owner's lifecycle,
// the leaks job on every instance at once, and one instance_id on two nodes, driven only through
// the REST API, the database read only to check invariants.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { DATABASE_URL_ENV, instancesConfig, LEASE_MS } from '../support/instances-config.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, sleep, startFleet, type Instance } from '../support/instances.ts';
import { active, cpeCalls, cpePosts, db, on, reviewRig, rig, why } from './instances-review-support.ts';

const test = suite('e2e review: three instances on one PostgreSQL, from outside: the leader and its jobs');
const up = reviewRig(test);

const metricsOf = async (i: Instance) => (i.pid === null ? '' : await (await fetch(`${i.origin}/metrics`)).text());
const sample = (text: string, name: string, labels = '') => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
};
const leaderOf = async () => {
  const live = rig!.fleet.instances.filter((i) => i.pid !== null);
  const texts = await Promise.all(live.map(metricsOf));
  const leaders = live.filter((_, k) => sample(texts[k]!, 'ipv6_instance_leader') === 1);
  return leaders.length === 1 ? leaders[0] : undefined;
};

test('/metrics summed over the three instances → the fleet\'s figures (lifecycles by state, pool allocated, pending); one leader', async () => {
  if (!(await up())) return;
  await eventually('one leader', 5000, leaderOf);
  await sleep(1500);
  const texts = await Promise.all(rig!.fleet.instances.map(metricsOf));
  const sum = (name: string, labels = '') => texts.reduce((n, t) => n + sample(t, name, labels), 0);
  const { rows } = await db.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM lifecycles GROUP BY state');
  const want = Object.fromEntries(rows.map((r) => [r.state, r.n]));
  const got = Object.fromEntries(rows.map((r) => [r.state, sum('ipv6_lifecycle_lifecycles', `state="${r.state}"`)]));
  assert.equal(got, want, 'lifecycles by state');
  const alloc = (await db.ipamAllocations());
  assert.is(sum('ipv6_pool_allocated_prefixes', 'pool="residential"'), [...alloc.values()].flat().length, 'allocated prefixes');
  assert.is(sum('ipv6_instance_leader'), 1);
  const { rows: p } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lifecycles WHERE next_pending_at IS NOT NULL');
  assert.is(sum('ipv6_lifecycle_pending_lifecycles'), p[0]!.n, 'pending');
});

test('the leader SIGKILLed right after it queued an offline CPE step → another leads within a few seconds, and its pending job finishes the step once the CPE is back', async () => {
  if (!(await up())) return;
  const leader = await eventually('one leader', 5000, leaderOf);
  const s = 'pending-leader';
  const cpe = rig!.acs.addDevice({ mode: 'offline' });
  assert.is((await leader.call('POST', 'allocate', { subscriber_id: s })).status, 201);
  const act = await leader.call('POST', 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.equal([act.status, act.body?.state, act.body?.pending?.length], [200, 'active', 1], JSON.stringify(act.body));
  const killedAt = Date.now();
  await leader.kill();
  const next = (await eventually('a new leader', 5000, leaderOf).catch((e: Error) => assert.unreachable(`${e.message}${why()}`))) as Instance;
  const tookMs = Date.now() - killedAt;
  assert.ok(next !== leader);
  assert.ok(tookMs < 3000, `a new leader ${tookMs} ms after the kill`);
  rig!.acs.setMode(cpe.id, 'online');
  rig!.acs.inform(cpe.id);
  const got = await eventually('the pending step resolved', 15_000, async () => {
    const g = await next.call('GET', `lifecycle/${s}`);
    return g.body?.pending?.length === 0 ? g.body : undefined;
  }).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
  assert.is(got.state, 'active');
  assert.equal(rig!.acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), true);
  await leader.start();
});

test('the leader frozen (SIGSTOP: a hung event loop, a long GC) well past leader_interval_ms → another instance leads meanwhile, and the thawed one steps down', async () => {
  if (!(await up())) return;
  const leader = await eventually('one leader', 5000, leaderOf);
  leader.freeze();
  let next: Instance | undefined;
  try {
    // Leases move off a frozen owner after store.lease_ms; the leader's advisory lock stays on its open connection.
    next = await eventually('a survivor leading while the leader is frozen', LEASE_MS + 6000, async () => {
      const live = rig!.fleet.instances.filter((i) => i !== leader && i.pid !== null);
      const texts = await Promise.all(live.map(metricsOf));
      return live.find((_, k) => sample(texts[k]!, 'ipv6_instance_leader') === 1);
    }).catch(() => undefined);
  } finally {
    leader.thaw();
  }
  assert.ok(next, `no survivor took over the scheduled jobs while ${leader.name} was frozen for ${LEASE_MS + 6000} ms (jobs.pending, leaks, cleanup stop fleet-wide)`);
  await eventually('one leader after the thaw', 5000, leaderOf);
});

test('the pending job takes over a dead owner\'s busy lifecycle → once it settles, the lease is given up and another instance can work on the subscriber', async () => {
  if (!(await up())) return;
  const stuck: string[] = [];
  for (let round = 0; round < 4 && stuck.length === 0; round++) {
    const s = `pending-takeover-${round}`;
    const leader = await eventually('one leader', 5000, leaderOf);
    const owner = rig!.fleet.instances.find((i) => i !== leader)!;
    const cpe = rig!.acs.addDevice({ mode: 'offline' });
    assert.is((await owner.call('POST', 'allocate', { subscriber_id: s })).status, 201);
    const act = await owner.call('POST', 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
    assert.equal([act.status, act.body?.pending?.length], [200, 1], JSON.stringify(act.body));
    const from = rig!.acs.requests.length;
    rig!.acs.delayMs = 8000;
    assert.is((await owner.call('POST', 'revoke?wait=0', { subscriber_id: s })).status, 202);
    await eventually('the removal reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
    // The offline CPE's configure step comes due while the revocation is in flight: the leader's
    // pending job picks the lifecycle up and waits for the owner's lease.
    await eventually('the pending step due', 10_000, async () => {
      const { rows } = await db.pool.query<{ due: boolean }>('SELECT next_pending_at <= $2 AS due FROM lifecycles WHERE subscriber_id = $1 AND busy = 1', [s, new Date().toISOString()]);
      return rows[0]?.due ? true : undefined;
    });
    await sleep(1500);
    await owner.kill();
    rig!.acs.delayMs = 0;
    // The CPE back: the resumed removal is confirmed, nothing stays pending (no later pending pass for it).
    rig!.acs.setMode(cpe.id, 'online');
    await eventually(`${s} revoked`, 15_000, async () => {
      const g = await leader.call('GET', `lifecycle/${s}`);
      return g.body?.state === 'revoked' && g.body.pending.length === 0 ? true : undefined;
    }).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
    await sleep(3 * LEASE_MS);
    const lease = await db.lease(s);
    if (lease && lease.expires_at > new Date()) {
      const holder = rig!.fleet.instances.find((i) => i.owns(lease.owner));
      const other = rig!.fleet.instances.find((i) => i !== holder && i.pid !== null)!;
      const again = await other.call('POST', 'allocate?wait=5000', { subscriber_id: s });
      stuck.push(`${s}: revoked, yet ${holder?.name ?? lease.owner} (leader: ${leader.name}) still holds and renews its lease ${3 * LEASE_MS} ms later; allocate via ${other.name} answers ${again.status} ${again.body?.state}`);
    }
    await owner.start();
  }
  assert.equal(stuck, []);
});

test('the leaks job run on every instance at once while allocations, updates and revocations go on across them → nothing live reclaimed; IPAM = store', async () => {
  if (!(await up())) return;
  let running = true;
  const runs: number[] = [];
  const hammer = rig!.fleet.instances.map(async (i) => {
    while (running) {
      const r = await i.call('POST', 'jobs/leaks', {});
      runs.push(r.status);
      await sleep(30);
    }
  });
  const subs = Array.from({ length: 60 }, (_, i) => `leaks-${i}`);
  const bad: string[] = [];
  await Promise.all(subs.map(async (s, i) => {
    for (const [op, body] of [
      ['allocate', { subscriber_id: s }],
      ['activate', { subscriber_id: s, username: `${s}@isp` }],
      ['update', { subscriber_id: s }],
      ['revoke', { subscriber_id: s }],
      ['allocate', { subscriber_id: s }],
      ['activate', { subscriber_id: s, username: `${s}@isp` }],
      ['update', { subscriber_id: s }],
    ] as const) {
      const a = await on(i++).call('POST', `${op}?wait=20000`, body);
      if (a.status >= 300) bad.push(`${s} ${op}: ${a.status} ${JSON.stringify(a.body?.error ?? a.body?.state)}`);
    }
  }));
  running = false;
  await Promise.all(hammer);
  assert.equal(bad, [], `every operation answered 2xx${why()}`);
  // At least one run per instance overlapped the traffic (how many more depends on the machine's load).
  assert.ok(runs.filter((r) => r === 200).length >= rig!.fleet.instances.length, `leak runs: ${JSON.stringify(runs.slice(0, 20))}`);
  assert.equal(runs.filter((r) => r !== 200), [], 'every leak run answered 200');
  assert.equal(await ipamAgreesWithStore(db), []);
  const { rows } = await db.pool.query("SELECT subscriber_id, state FROM lifecycles WHERE subscriber_id LIKE 'leaks-%' AND state NOT IN ('active', 'revoked')");
  assert.equal(rows, []);
  // Each revoked lifecycle's prefixes stay quarantined (hold-down 600 s), none handed back early by a reclaim.
  const { rows: early } = await db.pool.query(
    "SELECT l.subscriber_id, q.prefix FROM lifecycles l JOIN ipam_quarantine q ON q.lifecycle_id = l.id WHERE l.subscriber_id LIKE 'leaks-%' AND l.state = 'revoked' AND q.freed_at IS NULL",
  );
  assert.equal(early, [], 'revoked lifecycles whose prefix is still quarantined but not freed');
});

test('two instances given the same store.instance_id (one configuration file copied to two nodes) → still one at a time on a subscriber: a revoke through the second waits for the first\'s, the CPE asked once', async () => {
  if (!(await up())) return;
  const pair = await startFleet({
    count: 2,
    config: (dir) => {
      const c = instancesConfig(dir, rig!.acs.url);
      return { ...c, store: { ...(c.store as object), instance_id: 'node-1' } };
    },
    env: { [DATABASE_URL_ENV]: rig!.url },
  });
  try {
    const [p, q] = pair.instances as [Instance, Instance];
    const s = 'same-instance-id';
    const { cpe } = await active(p, s);
    const from = rig!.acs.requests.length;
    rig!.acs.delayMs = 3000;
    assert.is((await p.call('POST', 'revoke?wait=0', { subscriber_id: s })).status, 202);
    await eventually('the removal reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
    const second = await q.call('POST', 'revoke?wait=15000', { subscriber_id: s });
    rig!.acs.delayMs = 0;
    assert.is(second.body?.state, 'revoked', JSON.stringify(second.body));
    await sleep(500);
    const audit = await db.audit(s);
    assert.equal(chainProblems(s, audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), 'revoked'), []);
    assert.is(cpePosts(cpe.id, from), 1, 'the CPE asked to remove IPv6 once: the second instance did not run the step in flight alongside the first');
  } finally {
    await pair.close();
  }
});

test.run();
