// runtime.park_ms, attacked from outside, step by step: every step kind parked and answered (done,
// failed, queued, retried across the park). Each scenario runs parked and unparked (park_ms far off)
// where the two must leave the same lifecycle, the same audit trail and the same peer calls.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpeResult } from '../../services/genieacs/port.ts';
import type { SessionOutcome } from '../../services/radius/port.ts';
import { FakeDynamicAuthorization, FakeRadiusReplyStore } from '../../services/radius/fake.ts';
import { ServiceError } from '../../services/errors.ts';
import { BASE, type Answer } from '../http/support.ts';
import { drive, FAR, op, PARK_MS, peers, start, trail, until, within, type Held, type Op } from './park-review-support.ts';

const test = suite('park review: every step kind parked, driven through the API');

// ---------------------------------------------------------------- every step kind, parked

/** Allocate (held), activate, then revoke (release, CPE remove and free held), one request each waiting throughout. */
async function allocateActivateRevoke(parkMs: number) {
  const p = peers(['allocate', 'configurePd', 'release', 'removeIpv6', 'free']);
  const h = await start(p, { park_ms: parkMs });
  try {
    const parked = parkMs < FAR;
    const allocating = op(h, 'allocate', { subscriber_id: 'kinds' }, 20_000);
    const a = await drive(h, p, 1, parked);
    const allocated = await within('allocate', allocating);
    const activating = op(h, 'activate', { subscriber_id: 'kinds', username: 'kinds@isp', cpe_id: 'cpe-kinds' }, 20_000);
    const b = await drive(h, p, 1, parked);
    const activated = await within('activate', activating);
    const revoking = op(h, 'revoke', { subscriber_id: 'kinds' }, 20_000);
    const c = await drive(h, p, 3, parked);
    const revoked = await within('revoke', revoking);
    return {
      seen: [...a, ...b, ...c],
      answers: [allocated, activated, revoked].map((r: Answer) => `${r.status} ${r.body.state}`),
      calls: p.calls.map((c) => c.op),
      trail: await trail(h, 'kinds'),
      ipam: h.ipam.allocations().length + h.ipam.quarantined().length,
      cpe: h.cpe.cpe('cpe-kinds')?.log.map((l) => l.op),
    };
  } finally {
    await h.close();
  }
}

test('every step kind parked (IPAM allocate, CPE configure, release, CPE remove, free): the requests answer as unparked, one call each, the same trail', async () => {
  const parked = await allocateActivateRevoke(PARK_MS);
  const unparked = await allocateActivateRevoke(FAR);
  assert.equal(
    parked.seen.map((s) => `${s.op} ${s.parked}`),
    ['allocate true', 'configurePd true', 'release true', 'removeIpv6 true', 'free true'],
    'each step was parked when its peer answered',
  );
  assert.ok(unparked.seen.every((s) => !s.parked), 'park_ms far off: nothing parked');
  assert.equal(parked.answers, ['201 allocated', '200 active', '200 revoked']);
  assert.equal(parked.answers, unparked.answers);
  assert.equal(parked.calls, ['allocate', 'configurePd', 'release', 'removeIpv6', 'free'], 'each peer called once');
  assert.equal(parked.calls, unparked.calls);
  assert.equal(parked.trail, unparked.trail, 'the trail is the one an unparked run writes');
  assert.equal(parked.cpe, ['configurePd', 'removeIpv6']);
  assert.is(parked.ipam, unparked.ipam);
});

/** Activate, then an update whose CPE step fails for certain: the saga rolls back, each step parked. */
async function updateRolledBack(parkMs: number) {
  const p = peers(['allocate', 'configurePd', 'release', 'free']);
  const h = await start(p, { park_ms: parkMs });
  try {
    const parked = parkMs < FAR;
    const allocating = op(h, 'allocate', { subscriber_id: 'saga' }, 20_000);
    await drive(h, p, 1, false);
    await within('allocate', allocating);
    const activating = op(h, 'activate', { subscriber_id: 'saga', username: 'saga@isp', cpe_id: 'cpe-saga' }, 20_000);
    await drive(h, p, 1, false);
    await within('activate', activating);
    const before = (await h.get(`${BASE}/lifecycle/saga`)).body.prefix as string;
    const updating = op(h, 'update', { subscriber_id: 'saga' }, 20_000);
    // allocate (next), CPE configure (next: refused), release of next (the CPE step never took, so nothing to restore there).
    const seen = await drive(h, p, 3, parked, (c, n) => (n === 1 ? new ServiceError('upstream_rejected', 'the ACS refused the new prefix') : undefined));
    const updated = await within('update', updating);
    const after = await h.get(`${BASE}/lifecycle/saga`);
    return {
      seen,
      answer: `${updated.status} ${updated.body.error?.code ?? updated.body.state}`,
      kept: after.body.prefix === before,
      state: after.body.state,
      calls: p.calls.map((c) => c.op),
      trail: await trail(h, 'saga'),
      cpe: h.cpe.cpe('cpe-saga')?.prefix === before,
    };
  } finally {
    await h.close();
  }
}

test('an update saga rolled back with every step parked: the same error, the old prefix kept, the same calls and trail as unparked', async () => {
  const parked = await updateRolledBack(PARK_MS);
  const unparked = await updateRolledBack(FAR);
  assert.equal(parked.seen.map((s) => s.parked), [true, true, true], `parked at each step: ${JSON.stringify(parked.seen)}`);
  assert.equal(parked.answer, unparked.answer);
  assert.ok(parked.kept && parked.cpe, 'the subscriber keeps the old prefix, on the CPE too');
  assert.is(parked.state, unparked.state);
  assert.equal(parked.calls, unparked.calls);
  assert.equal(parked.trail, unparked.trail);
});

/** Activate, suspend and reactivate with RADIUS: reply writes and removals, and a NAS that never answers the CoA/Disconnect. */
async function radiusSteps(parkMs: number) {
  const p = peers(['writeReply', 'removeReply', 'notifySessions']);
  const replies = new FakeRadiusReplyStore();
  const sessions = new FakeDynamicAuthorization();
  sessions.openSession({ username: 'nas@isp', sessionId: 's-1', nas: '192.0.2.1' } as never);
  const h = await start(p, { park_ms: parkMs }, {}, { replies, sessions });
  const silent = (c: Held): unknown =>
    c.op === 'notifySessions' ? ([{ sessionId: 's-1', nas: '192.0.2.1', action: 'disconnect', attempts: 3, result: 'no_answer', errorCause: null }] satisfies SessionOutcome[]) : undefined;
  try {
    const parked = parkMs < FAR;
    await op(h, 'allocate', { subscriber_id: 'nas' }, 5000);
    const seen: { op: Op; parked: boolean }[] = [];
    const answers: string[] = [];
    for (const [verb, body, steps] of [
      ['activate', { subscriber_id: 'nas', username: 'nas@isp' }, 1],
      ['suspend', { subscriber_id: 'nas' }, 2],
      ['reactivate', { subscriber_id: 'nas' }, 2],
    ] as const) {
      const r = op(h, verb, body, 20_000);
      seen.push(...(await drive(h, p, steps, parked, silent)));
      const a = await within(verb, r);
      answers.push(`${a.status} ${a.body.state}`);
    }
    return { seen, answers, calls: p.calls.map((c) => c.op), trail: await trail(h, 'nas'), rows: replies.rows.length };
  } finally {
    await h.close();
  }
}

test('RADIUS reply write and removal and a NAS that does not answer, each parked: the same answers, calls and trail as unparked', async () => {
  const parked = await radiusSteps(PARK_MS);
  const unparked = await radiusSteps(FAR);
  assert.equal(
    parked.seen.map((s) => `${s.op} ${s.parked}`),
    ['writeReply true', 'removeReply true', 'notifySessions true', 'writeReply true', 'notifySessions true'],
  );
  assert.equal(parked.answers, ['200 active', '200 suspended', '200 active']);
  assert.equal(parked.answers, unparked.answers);
  assert.equal(parked.calls, unparked.calls);
  assert.equal(parked.trail, unparked.trail);
  assert.ok(parked.rows > 0, 'the reply written back on reactivate');
  assert.is(parked.rows, unparked.rows);
});

test('a retryable CPE failure while parked: the backoff runs out parked, the retry is made once, the lifecycle goes active', async () => {
  const p = peers(['configurePd']);
  const h = await start(p, {}, { retry: { attempts: 3, base_ms: 150, max_ms: 150 } });
  try {
    await op(h, 'allocate', { subscriber_id: 'again' }, 5000);
    const activating = op(h, 'activate', { subscriber_id: 'again', username: 'again@isp', cpe_id: 'cpe-again' }, 20_000);
    await drive(h, p, 1, true, () => new ServiceError('upstream_unavailable', 'ACS busy', { retryable: true }));
    await until('the retry', () => p.calls.length === 2);
    assert.equal(p.calls[1]!.at, { live: 0, parked: 1 }, 'the retry was made with the lifecycle still parked');
    p.calls[1]!.release();
    const r = await within('activate', activating);
    assert.is(r.status, 200);
    assert.is(r.body.state, 'active');
    assert.is(p.calls.length, 2, 'one failed call, one retry');
    assert.equal(h.cpe.cpe('cpe-again')?.log.map((l) => l.op), ['configurePd']);
  } finally {
    await h.close();
  }
});

test('a CPE that answers "queued" (offline) after a park: active with the pending step, as unparked', async () => {
  const run = async (parkMs: number) => {
    const p = peers(['configurePd']);
    const h = await start(p, { park_ms: parkMs });
    try {
      await op(h, 'allocate', { subscriber_id: 'offline' }, 5000);
      const activating = op(h, 'activate', { subscriber_id: 'offline', username: 'offline@isp', cpe_id: 'cpe-offline' }, 20_000);
      const seen = await drive(h, p, 1, parkMs < FAR, () => ({ status: 'queued', taskId: 'task-1' }) satisfies CpeResult);
      const r = await within('activate', activating);
      const pending = (r.body.pending as { step: string; task_id: string | null }[] | undefined)?.map((x) => `${x.step} ${x.task_id}`);
      return { seen, status: r.status, state: r.body.state, pending, trail: await trail(h, 'offline') };
    } finally {
      await h.close();
    }
  };
  const parked = await run(PARK_MS);
  const unparked = await run(FAR);
  assert.ok(parked.seen[0]!.parked);
  assert.is(parked.status, 200);
  assert.is(parked.state, 'active');
  assert.equal(parked.pending, unparked.pending);
  assert.ok(parked.pending?.length === 1, `one pending step: ${JSON.stringify(parked.pending)}`);
  assert.equal(parked.trail, unparked.trail);
});

test.run();
