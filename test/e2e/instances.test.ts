// Three service processes on one PostgreSQL (issue 11), started as an operator starts them and
// driven only through the REST API; the database is read only to check invariants. Allocations
// spread across them never share a prefix; one subscriber's operations through different instances
// make one chain of events; an owner killed or frozen mid-revocation is taken over within the
// lease, nothing is leaked or done twice, and the frozen one writes nothing once it resumes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { LEASE_MS, startRig, type Rig } from '../support/instances-config.ts';
import { invariantDb, ipamAgreesWithStore, type InvariantDb } from '../support/instances-db.ts';
import { cpeTaskPosts, revocationInFlight, settled } from '../support/instances-takeover.ts';
import { eventually, sleep, type Answer, type Instance } from '../support/instances.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('e2e: three instances on one PostgreSQL');
let rig: Rig | null = null;
let rigFailed: Error | null = null;
let db: InvariantDb;
const on = (i: number): Instance => rig!.fleet.instances[i % rig!.fleet.instances.length]!;
const pd = (id: string) => ['Device.DHCPv6.Client.1.Enable', 'Device.DHCPv6.Client.1.RequestPrefixes', 'Device.IP.Interface.2.IPv6Enable'].map((p) => rig!.acs.value(id, p));
const why = () => `\n${rig!.fleet.warnings()}`;

// One rig for the suite (starting three processes is the slow part); every test uses its own subscribers.
async function up(): Promise<boolean> {
  if (!postgresAvailable('three instances on one PostgreSQL')) return false;
  // A rig that failed to start fails every test with its reason, without starting again.
  if (rigFailed) throw rigFailed;
  if (!rig) {
    rig = await startRig(3).catch((e: Error) => {
      throw (rigFailed = e);
    });
    db = invariantDb(rig.url);
  }
  // A test that failed midway leaves an instance dead or the stand-in slow: the next one wants neither.
  rig.acs.delayMs = 0;
  for (const i of rig.fleet.instances) if (i.pid === null) await i.start();
  return true;
}
test.after(async () => {
  await db?.close();
  await rig?.close();
});

test('1,000 concurrent allocations round-robin over three instances → 1,000 distinct prefixes, each allocated; IPAM = store; one lifecycle per subscriber', async () => {
  if (!(await up())) return;
  const subs = Array.from({ length: 1000 }, (_, i) => `alloc-${i}`);
  const answers = await Promise.all(subs.map((s, i) => on(i).call('POST', 'allocate', { subscriber_id: s })));
  const statuses = new Map<number, number>();
  for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
  assert.ok(answers.every((a) => a.status === 201 || a.status === 202), `statuses ${JSON.stringify([...statuses])}${why()}`);
  // A 202 is polled (through another instance) until it is allocated.
  const final = await Promise.all(
    answers.map(async (a, i) =>
      a.status === 201
        ? a.body
        : eventually(`${subs[i]} allocated`, 15_000, async () => {
            const got = await on(i + 1).call('GET', `lifecycle/${subs[i]}`);
            return got.body?.state === 'allocated' ? got.body : undefined;
          }),
    ),
  );
  assert.equal(final.filter((b) => b.state !== 'allocated').map((b) => `${b.subscriber_id}: ${b.state}`), []);
  assert.is(new Set(final.map((b) => b.prefix)).size, 1000, 'every allocation its own prefix');
  // Each one read back through an instance it was not allocated on: the same prefix.
  const readBack = await Promise.all(subs.map((s, i) => on(i + 2).call('GET', `lifecycle/${s}`)));
  assert.equal(readBack.filter((r, i) => r.status !== 200 || r.body.prefix !== final[i].prefix).map((_, i) => subs[i]), []);
  assert.equal(await ipamAgreesWithStore(db), []);
  const ipam = await db.ipamAllocations();
  const held = await db.held();
  assert.is(held.size, 1000);
  assert.is([...ipam.values()].flat().length, 1000);
  assert.equal(await db.subscribersWithTwoLive(), []);
  const { rows } = await db.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM lifecycles WHERE subscriber_id LIKE 'alloc-%'");
  assert.is(rows[0]!.n, 1000, 'no lifecycle twice for a subscriber');
});

type Op = { op: string; via: number; body: Record<string, unknown> };
// A trail entry's detail.state is the state path it reached: idle in a stable state, or the end.
const SETTLED = /(^|\.)idle$|^revoked$|^failed/;
const trailOf = async (via: Instance, s: string) => {
  const got = await via.call('GET', `lifecycle/${s}/events`);
  return got.status === 200 ? (got.body.events as { type: string; from: string | null; to: string; detail: { state: string } }[]) : [];
};
const TYPE: Record<string, string> = { activate: 'ACTIVATE', suspend: 'SUSPEND', reactivate: 'REACTIVATE', revoke: 'REVOKE' };

test('interleaved operations on one subscriber through different instances → one chain of events; none lost; every 202 applied', async () => {
  if (!(await up())) return;
  const subscribers = Array.from({ length: 8 }, (_, i) => `mixed-${i}`);
  await Promise.all(subscribers.map(async (s) => {
    const cpe = rig!.acs.addDevice();
    const u = { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id };
    const rounds: Op[][] = [
      [{ op: 'allocate', via: 0, body: { subscriber_id: s } }],
      [{ op: 'activate', via: 1, body: u }, { op: 'activate', via: 2, body: u }],
      [{ op: 'suspend', via: 2, body: { subscriber_id: s, reason: 'unpaid' } }],
      [{ op: 'reactivate', via: 0, body: { subscriber_id: s } }, { op: 'suspend', via: 1, body: { subscriber_id: s } }],
      [{ op: 'reactivate', via: 0, body: { subscriber_id: s } }],
      [{ op: 'revoke', via: 1, body: { subscriber_id: s } }, { op: 'revoke', via: 2, body: { subscriber_id: s } }, { op: 'suspend', via: 0, body: { subscriber_id: s } }],
      [{ op: 'allocate', via: 2, body: { subscriber_id: s } }],
      [{ op: 'revoke', via: 0, body: { subscriber_id: s } }],
    ];
    const done: { op: Op; a: Answer }[] = [];
    for (const round of rounds) {
      const before = await trailOf(on(0), s);
      const answers = await Promise.all(round.map((op) => on(op.via).call('POST', op.op, op.body)));
      round.forEach((op, i) => done.push({ op, a: answers[i]! }));
      // A 202 ends up applied: its entry is in the trail (read on another instance) and the lifecycle has settled.
      for (const [i, a] of answers.entries()) {
        if (a.status !== 202) continue;
        const type = TYPE[round[i]!.op] ?? 'CREATED';
        await eventually(`${s}: the ${round[i]!.op} answered 202 applied`, 15_000, async () => {
          const trail = await trailOf(on(round[i]!.via + 1), s);
          const more = trail.filter((e) => e.type === type).length > before.filter((e) => e.type === type).length;
          return more && SETTLED.test(trail.at(-1)!.detail.state) ? true : undefined;
        });
      }
    }
    const tag = (d: { op: Op; a: Answer }) => `${s} ${d.op.op} via ${on(d.op.via).name} → ${d.a.status} ${JSON.stringify(d.a.body?.error ?? d.a.body?.state)}`;
    assert.equal(done.filter((d) => ![200, 201, 202, 409].includes(d.a.status)).map(tag), [], `only 200/201/202/409${why()}`);
    assert.equal(done.filter((d) => d.a.status === 409 && d.a.body?.error?.code !== 'invalid_transition').map(tag), []);
    assert.equal([done[0]!.a.status, done.at(-2)!.a.status], [201, 201], `${s}: both allocations create a lifecycle`);

    const events = await on(1).call('GET', `lifecycle/${s}/events`);
    assert.is(events.status, 200);
    const trail = events.body.events as { type: string; from: string | null; to: string }[];
    // Every instance tells the same trail.
    for (const i of [0, 2]) assert.equal((await on(i).call('GET', `lifecycle/${s}/events`)).body.events, events.body.events, `${s}: ${on(i).name} tells another trail`);
    const starts = trail.flatMap((e, i) => (e.type === 'CREATED' ? [i] : []));
    assert.is(starts.length, 2, `${s}: two lifecycles in the trail`);
    const lifecycles = starts.map((from, k) => trail.slice(from, starts[k + 1]));
    for (const [k, part] of lifecycles.entries()) assert.equal(chainProblems(`${s}#${k}`, part, 'revoked'), []);
    // No operation lost, none applied twice: an accepted operation is in the trail, at most once per accepted request.
    for (const [op, type] of Object.entries(TYPE)) {
      const accepted = done.filter((d) => d.op.op === op && d.a.status >= 200 && d.a.status < 300).length;
      const entries = trail.filter((e) => e.type === type).length;
      assert.ok(accepted === 0 ? entries === 0 : entries >= 1 && entries <= accepted, `${s}: ${op} accepted ${accepted} times, ${entries} ${type} entries: ${done.map(tag).join('; ')}`);
    }
    const audit = await db.audit(s);
    assert.equal(audit.map((r) => [r.type, r.from_state, r.to_state]), trail.map((e) => [e.type, e.from, e.to]), `${s}: the API's trail is the audit table's`);
    const last = await on(2).call('GET', `lifecycle/${s}`);
    assert.equal([last.body.state, last.body.pending, last.body.failure], ['revoked', [], null]);
  }));
  assert.equal(await ipamAgreesWithStore(db), []);
  assert.equal(await db.subscribersWithTwoLive(), []);
});

test('SIGKILL of the instance that owns a revocation in flight → another finishes it within the lease and a few seconds; released once; done once in effect', async () => {
  if (!(await up())) return;
  const f = await revocationInFlight(rig!, db, on(0), 'killed-owner', 8000);
  // 202 with the revocation begun (as on one node): the instance waits a moment for its event to be sent.
  assert.is(f.revoke.status, 202, `revoke?wait=0 during a slow CPE step: ${JSON.stringify(f.revoke.body)}`);
  assert.is(f.revoke.body.state, 'revoking', JSON.stringify(f.revoke.body));
  assert.ok(f.ownerFromLease, `the lease's owner ${f.lease.owner} names one of the instances' PIDs (${rig!.fleet.instances.map((i) => i.pid).join(', ')})`);
  const killedAt = Date.now();
  await f.owner.kill();
  rig!.acs.delayMs = 0;
  const other = rig!.fleet.instances.find((i) => i !== f.owner)!;
  const done = await settled(other, f.subscriberId, LEASE_MS + 15_000).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
  const tookMs = Date.now() - killedAt;
  assert.equal([done.state, done.pending, done.failure], ['revoked', [], null]);
  assert.ok(tookMs <= LEASE_MS + 5000, `finished ${tookMs} ms after the kill (lease ${LEASE_MS} ms)`);

  // The prefix was released once: one quarantine row, freed; nothing of it left allocated.
  const q = await db.quarantined(f.lifecycleId);
  assert.equal(q.map((r) => [r.prefix, r.freed_at !== null]), [[f.prefix, true]]);
  assert.is((await db.ipamAllocations()).get(f.lifecycleId), undefined);
  assert.equal(await ipamAgreesWithStore(db), []);
  // Done once in effect: every removal request is one task (one uniqueKey, GenieACS replaces it), at most once per owner; the CPE ends off, no task left.
  const posts = cpeTaskPosts(rig!, f.cpeId, f.acsFrom);
  assert.ok(posts.length >= 1 && posts.length <= 2, `${posts.length} removal POSTs`);
  assert.is(new Set(posts).size, 1, `one uniqueKey: ${JSON.stringify(posts)}`);
  assert.equal(pd(f.cpeId), [false, false, false]);
  assert.equal(rig!.acs.tasks(f.cpeId), []);
  const audit = await db.audit(f.subscriberId);
  assert.equal(chainProblems(f.subscriberId, audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), 'revoked'), []);
  assert.is(audit.filter((r) => r.to_state === 'revoked' && r.from_state !== 'revoked').length, 1, 'revoked once');
  // Its work done, the new owner gives the lease up (or lets it run out): nobody owns a settled lifecycle.
  await eventually('no live lease left on the settled lifecycle', LEASE_MS + 1000, async () => {
    const l = await db.lease(f.subscriberId);
    return !l || l.expires_at <= new Date() ? true : undefined;
  }).catch((e: Error) => assert.unreachable(e.message));
});

test('an owner frozen past its lease (SIGSTOP) → another takes over and finishes; after SIGCONT the frozen one writes nothing over it', async () => {
  if (!(await up())) return;
  const f = await revocationInFlight(rig!, db, on(1), 'frozen-owner', 4000);
  assert.is(f.revoke.status, 202, JSON.stringify(f.revoke.body));
  assert.ok(f.ownerFromLease, `the lease's owner ${f.lease.owner} names one of the instances' PIDs`);
  f.owner.freeze();
  const frozenAt = Date.now();
  try {
    rig!.acs.delayMs = 0;
    const other = rig!.fleet.instances.find((i) => i !== f.owner)!;
    const done = await settled(other, f.subscriberId, LEASE_MS + 15_000).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
    assert.equal([done.state, done.pending, done.failure], ['revoked', [], null]);
    const lease = await db.lease(f.subscriberId);
    assert.ok(!lease || lease.token > f.lease.token, `the lease was taken over with a greater token: ${JSON.stringify(lease)} after ${JSON.stringify(f.lease)}`);
    // Frozen for longer than the lease, and long enough for the stand-in to have answered the frozen one's call.
    await sleep(Math.max(0, Math.max(LEASE_MS, 4000) + 1000 - (Date.now() - frozenAt)));
  } finally {
    f.owner.thaw();
  }
  const before = { audit: await db.audit(f.subscriberId), row: await rowOf(f.lifecycleId), q: await db.quarantined(f.lifecycleId) };
  const postsBefore = cpeTaskPosts(rig!, f.cpeId, f.acsFrom).length;
  // The thawed instance's timers, its answered call and its lease renewal all run now.
  await sleep(LEASE_MS + 2000);
  const after = { audit: await db.audit(f.subscriberId), row: await rowOf(f.lifecycleId), q: await db.quarantined(f.lifecycleId) };
  assert.equal(after.audit.slice(before.audit.length).map((r) => `${r.type} ${r.from_state}→${r.to_state}`), [], 'no audit entry written after the take-over settled');
  assert.equal(after.row, before.row, 'the lifecycle row is the one the new owner left');
  assert.equal(after.q, before.q, "IPAM's quarantine row is the one the new owner left");
  const leaseAfter = await db.lease(f.subscriberId);
  assert.ok(!leaseAfter || !f.owner.owns(leaseAfter.owner), `the resumed instance took no lease on it again: ${JSON.stringify(leaseAfter)}`);
  assert.equal(after.row?.state, 'revoked');
  assert.equal(chainProblems(f.subscriberId, after.audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), 'revoked'), []);
  assert.equal(await ipamAgreesWithStore(db), []);
  assert.equal(pd(f.cpeId), [false, false, false]);
  assert.is(cpeTaskPosts(rig!, f.cpeId, f.acsFrom).length, postsBefore, 'the resumed instance sends no removal request for a lifecycle it no longer owns');
  // The resumed instance answers what the store holds, not what it had in memory.
  const seen = await eventually(`${f.owner.name} answering the settled lifecycle`, 5000, async () => {
    const got = await f.owner.call('GET', `lifecycle/${f.subscriberId}`);
    return got.body?.state === 'revoked' ? got.body : undefined;
  }).catch((e: Error) => assert.unreachable(e.message));
  assert.equal([seen.state, seen.prefix], ['revoked', f.prefix]);
});

async function rowOf(id: string) {
  const { rows } = await db.pool.query<{ state: string; updated_at: string; snapshot: string }>('SELECT state, updated_at, snapshot FROM lifecycles WHERE id = $1', [id]);
  return rows[0];
}

test.run();
