// A review of issue 11 from outside, several instances on one subscriber: an Idempotency-Key
// replayed on another instance (a load balancer retrying), allocations racing across instances,
// and a suspend/reactivate storm, driven only through the REST API as an ISP's provisioning would.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { LEASE_MS } from '../support/instances-config.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, sleep } from '../support/instances.ts';
import { active, cpeCalls, db, eventsOf, on, reviewRig, rig, why } from './instances-review-support.ts';

const test = suite('e2e review: three instances on one PostgreSQL, from outside: keys and races');
const up = reviewRig(test);

test('an Idempotency-Key replayed on another instance while the first request still waits its turn → the first answer, and the operation done once', async () => {
  if (!(await up())) return;
  const s = 'key-queued';
  await active(on(0), s);
  // A slow update holds the subscriber; the keyed suspend waits behind it on instance a.
  rig!.acs.delayMs = 2500;
  const upd = await on(0).call('POST', 'update?wait=0', { subscriber_id: s });
  assert.is(upd.status, 202, JSON.stringify(upd.body));
  const key = { 'Idempotency-Key': 'review-suspend-1' };
  const first = await on(0).call('POST', 'suspend?wait=0', { subscriber_id: s, reason: 'unpaid' }, key);
  assert.is(first.status, 202, JSON.stringify(first.body));
  // The client's retry (its own timeout) lands on instance b through the load balancer.
  const replay = await on(1).call('POST', 'suspend?wait=20000', { subscriber_id: s, reason: 'unpaid' }, key);
  rig!.acs.delayMs = 0;
  assert.is(replay.status, 200, `the replay answered ${replay.status} ${JSON.stringify(replay.body)}${why()}`);
  assert.is(replay.body.state, 'suspended');
  // And the key's stored answer, replayed once more anywhere, is that same 200.
  const again = await on(2).call('POST', 'suspend', { subscriber_id: s, reason: 'unpaid' }, key);
  assert.equal([again.status, again.body?.state], [200, 'suspended']);
  assert.is(await eventsOf(s, 'SUSPEND'), 1, 'one SUSPEND in the audit trail');
});

test('an Idempotency-Key replayed on another instance after the first finished → the stored answer, nothing run again', async () => {
  if (!(await up())) return;
  const s = 'key-finished';
  const key = { 'Idempotency-Key': 'review-alloc-finished' };
  const first = await on(0).call('POST', 'allocate', { subscriber_id: s }, key);
  assert.is(first.status, 201);
  const replays = await Promise.all([1, 2].map((i) => on(i).call('POST', 'allocate', { subscriber_id: s }, key)));
  assert.equal(replays.map((r) => [r.status, r.body?.prefix, r.location]), replays.map(() => [201, first.body.prefix, first.location]));
  const mismatch = await on(1).call('POST', 'allocate', { subscriber_id: 'other' }, key);
  assert.is(mismatch.status, 422);
  assert.is(await eventsOf(s, 'CREATED'), 1);
});

test('an Idempotency-Key replayed on another instance after the first instance was SIGKILLed mid-activate → 200 active, activated once', async () => {
  if (!(await up())) return;
  const s = 'key-killed';
  const cpe = rig!.acs.addDevice();
  assert.is((await on(0).call('POST', 'allocate', { subscriber_id: s })).status, 201);
  const from = rig!.acs.requests.length;
  rig!.acs.delayMs = 6000;
  const key = { 'Idempotency-Key': 'review-activate-killed' };
  const body = { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id };
  const first = await on(0).call('POST', 'activate?wait=0', body, key);
  assert.is(first.status, 202);
  await eventually('the CPE step reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
  await on(0).kill();
  rig!.acs.delayMs = 0;
  const t0 = Date.now();
  const replay = await on(1).call('POST', 'activate?wait=20000', body, key);
  assert.equal([replay.status, replay.body?.state], [200, 'active'], `${JSON.stringify(replay.body)}${why()}`);
  assert.ok(Date.now() - t0 < LEASE_MS + 5000, `answered ${Date.now() - t0} ms after the kill`);
  assert.is(await eventsOf(s, 'ACTIVATE'), 1);
  await on(0).start();
});

test('two instances racing allocate for one subscriber → one 201, the others 200 with the same prefix; one lifecycle; IPAM = store', async () => {
  if (!(await up())) return;
  for (let round = 0; round < 10; round++) {
    const s = `race-${round}`;
    const answers = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => on(i).call('POST', 'allocate', { subscriber_id: s })));
    const statuses = answers.map((a) => a.status).sort();
    assert.equal(statuses, [200, 200, 200, 200, 200, 201], `${s}: ${JSON.stringify(answers.map((a) => [a.status, a.body]))}${why()}`);
    assert.is(new Set(answers.map((a) => a.body.prefix)).size, 1);
    assert.is(await eventsOf(s, 'CREATED'), 1);
  }
  assert.equal(await ipamAgreesWithStore(db), []);
  assert.equal(await db.subscribersWithTwoLive(), []);
});

test('a suspend/reactivate storm on one subscriber across all three instances → only 200/202/409, one chain, nothing stuck, every 200 in the trail', async () => {
  if (!(await up())) return;
  const s = 'storm';
  await active(on(0), s);
  const ops = Array.from({ length: 60 }, (_, i) => ({ op: i % 2 ? 'reactivate' : 'suspend', via: i % 3 }));
  const answers = await Promise.all(ops.map((o) => on(o.via).call('POST', o.op, { subscriber_id: s })));
  const bad = answers.map((a, i) => [ops[i]!.op, on(ops[i]!.via).name, a.status, a.body?.error?.code ?? a.body?.state]).filter((x) => ![200, 202, 409].includes(x[2] as number));
  assert.equal(bad, [], `only 200/202/409${why()}`);
  const ok = (op: string) => answers.filter((a, i) => ops[i]!.op === op && a.status === 200).length;
  const final = await eventually('the storm settled', 20_000, async () => {
    const got = await on(2).call('GET', `lifecycle/${s}`);
    return ['active', 'suspended'].includes(got.body?.state) ? (got.body.state as string) : undefined;
  });
  await sleep(500);
  const audit = await db.audit(s);
  assert.equal(chainProblems(s, audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), final), []);
  assert.ok(audit.filter((r) => r.type === 'SUSPEND').length >= ok('suspend'), 'every 200 suspend is in the trail');
  assert.ok(audit.filter((r) => r.type === 'REACTIVATE').length >= ok('reactivate'), 'every 200 reactivate is in the trail');
  const lease = await db.lease(s);
  assert.ok(!lease || lease.expires_at <= new Date() || (await sleep(LEASE_MS), !(await db.lease(s)) || (await db.lease(s))!.expires_at <= new Date()), `a lease left on a settled subscriber: ${JSON.stringify(lease)}`);
});

test.run();
