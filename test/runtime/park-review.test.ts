// runtime.park_ms, attacked from outside: every step kind parked and answered (done, failed, queued,
// retried across the park), Idempotency-Key replays of a parked operation, many operations waiting
// on parked lifecycles past a tiny max_live_actors, shutdown while parked, and that a parked
// lifecycle's actor really is collectable. Each scenario runs parked and unparked (park_ms far off)
// where the two must leave the same lifecycle, the same audit trail and the same peer calls.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpePort, CpeResult } from '../../services/genieacs/port.ts';
import type { FakeIpam } from '../../services/ipam/fake.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort, SessionOutcome } from '../../services/radius/port.ts';
import { FakeDynamicAuthorization, FakeRadiusReplyStore } from '../../services/radius/fake.ts';
import { ServiceError } from '../../services/errors.ts';
import { BASE, startHarness, type Answer, type Harness } from '../http/support.ts';

const PARK_MS = 20;
const FAR = 60_000;
const test = suite('park review: parked lifecycles driven through the API');

type Op = 'allocate' | 'release' | 'free' | 'configurePd' | 'removeIpv6' | 'writeReply' | 'removeReply' | 'notifySessions';
interface Held {
  op: Op;
  key: string;
  signal: AbortSignal | undefined;
  /** Host state when the call was made: how many actors live, how many parked. */
  at: { live: number; parked: number };
  /** undefined: the real (fake) peer answers; an Error: the call fails with it; else that result. */
  release(r?: unknown): void;
  released: boolean;
}

/** IPAM and CPE calls of the ops in `hold` wait until released one by one; the rest go straight through. */
function peers(hold: Op[]) {
  const calls: Held[] = [];
  let h: Harness | null = null;
  const held = <C extends { key?: string; lifecycleId?: string; username?: string }, R>(op: Op, fn: (cmd: C, signal?: AbortSignal) => Promise<R>) =>
    (cmd: C, signal?: AbortSignal): Promise<R> => {
      if (!hold.includes(op)) return fn(cmd, signal);
      return new Promise<R>((resolve, reject) => {
        const call: Held = {
          op,
          key: cmd.key ?? cmd.lifecycleId ?? `${cmd.username}`,
          signal,
          at: { live: h?.composed.host.size ?? -1, parked: h?.composed.host.parked ?? -1 },
          released: false,
          release: (r) => {
            call.released = true;
            if (r instanceof Error) reject(r);
            else if (r !== undefined) resolve(r as R);
            else fn(cmd, signal).then(resolve, reject);
          },
        };
        calls.push(call);
      });
    };
  return {
    calls,
    bind: (harness: Harness) => void (h = harness),
    wrapIpam: (fake: FakeIpam): IpamPort => ({
      ...fake,
      allocate: held('allocate', fake.allocate),
      release: held('release', fake.release),
      free: held('free', fake.free),
    }),
    wrapCpe: (inner: CpePort): CpePort => ({ configurePd: held('configurePd', inner.configurePd), removeIpv6: held('removeIpv6', inner.removeIpv6) }),
    replies: (inner: RadiusReplyPort): RadiusReplyPort => ({
      writeReply: held('writeReply', inner.writeReply.bind(inner)),
      removeReply: held('removeReply', inner.removeReply.bind(inner)),
    }),
    sessions: (inner: DynamicAuthorizationPort): DynamicAuthorizationPort => ({ notifySessions: held('notifySessions', inner.notifySessions.bind(inner)) }),
    pending: () => calls.filter((c) => !c.released),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
/** A promise that rejects after `ms` instead of hanging the suite. */
function within<T>(what: string, p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

async function start(
  p: ReturnType<typeof peers>,
  runtime: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  radius?: { replies: RadiusReplyPort; sessions: DynamicAuthorizationPort },
): Promise<Harness> {
  const h = await startHarness({
    wrapIpam: p.wrapIpam,
    wrapCpe: p.wrapCpe,
    ...(radius ? { replies: p.replies(radius.replies), sessions: p.sessions(radius.sessions) } : {}),
    config: { runtime: { park_ms: PARK_MS, idle_ms: FAR, ...runtime }, ...extra } as never,
  });
  p.bind(h);
  return h;
}

const op = (h: Harness, verb: string, json: unknown, wait: number, headers: Record<string, string> = {}) =>
  h.request('POST', `${BASE}/${verb}?wait=${wait}`, { json, headers });

async function trail(h: Harness, s: string): Promise<string[]> {
  const events = (await h.get(`${BASE}/lifecycle/${s}/events`)).body.events as { type: string; from: string | null; to: string; detail: any }[];
  return events.map((e) => `${e.type} ${e.from}→${e.to}${e.detail?.step ? ` ${e.detail.step}` : ''}${e.detail?.error ? ` ${e.detail.error.code}` : ''}`);
}

/**
 * Releases the held calls in order with `answer(call, n)`, each once the host has parked its
 * lifecycle (parked runs), or after a moment (unparked runs); returns whether each was parked then.
 */
async function drive(h: Harness, p: ReturnType<typeof peers>, count: number, parked: boolean, answer: (c: Held, n: number) => unknown = () => undefined) {
  const seen: { op: Op; parked: boolean }[] = [];
  for (let n = 0; n < count; n++) {
    await until(`held call ${n + 1}`, () => p.pending().length > 0);
    const c = p.pending()[0]!;
    if (parked) await until(`call ${n + 1} (${c.op}) parked`, () => h.composed.host.parked === 1 && h.composed.host.size === 0).catch(() => undefined);
    else await sleep(PARK_MS * 3);
    seen.push({ op: c.op, parked: h.composed.host.parked === 1 });
    c.release(answer(c, n));
  }
  return seen;
}

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

// ---------------------------------------------------------------- requests on parked lifecycles

test('an Idempotency-Key replay of a parked activation: 202 while parked (never a second call), then the stored outcome', async () => {
  const p = peers(['configurePd']);
  const h = await start(p);
  try {
    await op(h, 'allocate', { subscriber_id: 'replay' }, 5000);
    const body = { subscriber_id: 'replay', username: 'replay@isp', cpe_id: 'cpe-replay' };
    const key = { 'Idempotency-Key': 'activate-replay-1' };
    const first = await op(h, 'activate', body, 0, key);
    assert.is(first.status, 202);
    await until('parked', () => h.composed.host.parked === 1 && h.composed.host.size === 0);
    const again = await op(h, 'activate', body, 0, key);
    assert.is(again.status, 202, 'a replay while parked follows the operation');
    assert.is(again.body.lifecycle_id, first.body.lifecycle_id);
    assert.is(p.calls.length, 1, 'the replay ran nothing');
    p.calls[0]!.release();
    await until('active', () => h.composed.host.parked === 0);
    let last: Answer | null = null;
    for (let i = 0; i < 100; i++) {
      last = await op(h, 'activate', body, 0, key);
      if (last.status === 200) break;
      await sleep(10);
    }
    assert.is(last!.status, 200, 'the outcome replaced the 202');
    assert.is(last!.body.state, 'active');
    assert.is(last!.headers.get('idempotent-replayed'), 'true');
    assert.is(p.calls.length, 1);
    assert.equal(h.cpe.cpe('cpe-replay')?.log.map((l) => l.key), [p.calls[0]!.key]);
  } finally {
    await h.close();
  }
});

test('GET and list on a parked lifecycle answer from the store without hydrating it', async () => {
  const p = peers(['configurePd']);
  const h = await start(p);
  try {
    await op(h, 'allocate', { subscriber_id: 'look' }, 5000);
    await op(h, 'activate', { subscriber_id: 'look', username: 'look@isp', cpe_id: 'cpe-look' }, 0);
    await until('parked', () => h.composed.host.parked === 1 && h.composed.host.size === 0);
    const one = await h.get(`${BASE}/lifecycle/look`);
    assert.is(one.status, 200);
    assert.is(one.body.state, 'allocated');
    const list = await h.get(`${BASE}/lifecycle?state=allocated`);
    assert.is(list.status, 200);
    assert.equal((list.body.items as { subscriber_id: string }[]).map((i) => i.subscriber_id), ['look']);
    const metrics = await h.get(`${BASE}/metrics`);
    assert.is(metrics.status, 200);
    assert.is(h.composed.host.size, 0, 'still parked: nothing hydrated it');
    p.calls[0]!.release();
    await until('active', () => h.composed.host.parked === 0);
  } finally {
    await h.close();
  }
});

test('at shutdown (release), a request waiting on a parked lifecycle answers 202 at once; the call lands afterwards all the same', async () => {
  const p = peers(['configurePd']);
  const h = await start(p);
  try {
    await op(h, 'allocate', { subscriber_id: 'drain' }, 5000);
    const waiting = op(h, 'activate', { subscriber_id: 'drain', username: 'drain@isp', cpe_id: 'cpe-drain' }, 30_000);
    await until('parked', () => h.composed.host.parked === 1 && h.composed.host.size === 0);
    h.composed.release();
    const r = await within('the waiting request', waiting, 2000);
    assert.is(r.status, 202);
    assert.is(r.body.state, 'allocated');
    p.calls[0]!.release();
    await until('landed', () => h.composed.host.parked === 0);
  } finally {
    await h.close();
  }
});

// ---------------------------------------------------------------- many, past a tiny cap

test('max_live_actors 2, 40 subscribers each with an activation and a revoke waiting: every request answers, every peer called once', async () => {
  const p = peers(['configurePd', 'removeIpv6']);
  const h = await start(p, { max_live_actors: 2 });
  try {
    const subs = Array.from({ length: 40 }, (_, i) => `many-${i}`);
    await Promise.all(subs.map((s) => op(h, 'allocate', { subscriber_id: s }, 5000)));
    const answers = subs.flatMap((s) => [
      op(h, 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: `cpe-${s}` }, 20_000),
      op(h, 'revoke', { subscriber_id: s }, 20_000),
    ]);
    let released = 0;
    // Several at once, in the same tick: landings, hydrations and cap parkings interleave.
    while (released < subs.length * 2) {
      await until(`held calls (${released} released)`, () => p.pending().length > 0, 8000);
      await sleep(PARK_MS * 2);
      const batch = p.pending().slice(0, 7);
      for (const c of batch) c.release();
      released += batch.length;
    }
    const got = await within('every request', Promise.all(answers), 10_000);
    assert.equal(
      got.map((r) => `${r.status} ${r.body.state}`),
      subs.flatMap(() => ['200 active', '200 revoked']),
    );
    const configured = p.calls.filter((c) => c.op === 'configurePd').map((c) => c.key);
    const removed = p.calls.filter((c) => c.op === 'removeIpv6').map((c) => c.key);
    assert.is(new Set(configured).size, 40);
    assert.is(configured.length, 40, 'no CPE configured twice');
    assert.is(removed.length, 40, 'no CPE IPv6 removed twice');
    assert.ok(h.composed.host.size <= 2, `at most the cap live at the end: ${h.composed.host.size}`);
  } finally {
    await h.close();
  }
});

/** Runs `fn` after `k` microtasks: two calls landing within one burst of the event loop, k apart. */
const afterMicrotasks = (k: number, fn: () => void): void => (k <= 0 ? fn() : queueMicrotask(() => afterMicrotasks(k - 1, fn)));

test('a parked call landing microtasks after its actor was parked by the cap: the waiting request still hears the outcome, the subscriber takes further operations', async () => {
  // max_live_actors 1, park_ms far off: only the cap parks. Y is parked, X live with its activate
  // request waiting on it; Y's call lands (Y is hydrated, which parks X past the cap) and X's call
  // lands k microtasks later. Answered directly (no fake behind) so that the chains are the same each run.
  const stuck: string[] = [];
  for (let k = 0; k <= 8; k++) {
    const calls: { resolve(v: CpeResult): void }[] = [];
    const wrapCpe = (inner: CpePort): CpePort => ({ removeIpv6: inner.removeIpv6, configurePd: () => new Promise((resolve) => calls.push({ resolve })) });
    const h = await startHarness({ wrapCpe, config: { runtime: { park_ms: FAR, idle_ms: FAR, max_live_actors: 1 } } as never });
    try {
      await op(h, 'allocate', { subscriber_id: 'Y' }, 5000);
      await op(h, 'allocate', { subscriber_id: 'X' }, 5000);
      await op(h, 'activate', { subscriber_id: 'Y', username: 'y@isp', cpe_id: 'cpe-y' }, 0);
      await until('Y at the CPE', () => calls.length === 1);
      const x = op(h, 'activate', { subscriber_id: 'X', username: 'x@isp', cpe_id: 'cpe-x' }, 1000);
      await until('X at the CPE', () => calls.length === 2);
      await until('Y parked, X live', () => h.composed.host.parked === 1 && h.composed.host.size === 1);
      calls[0]!.resolve({ status: 'done' });
      afterMicrotasks(k, () => calls[1]!.resolve({ status: 'done' }));
      const activated = await x;
      const revoked = await op(h, 'revoke', { subscriber_id: 'X' }, 1000);
      const line = `k=${k}: activate ${activated.status} ${activated.body.state}, then revoke ${revoked.status} ${revoked.body.state}`;
      if (activated.status !== 200 || revoked.status !== 200 || revoked.body.state !== 'revoked') stuck.push(line);
    } finally {
      await h.close();
    }
  }
  assert.equal(stuck, [], 'every activation answered within its wait, and the revoke behind it ran');
});

test('a stop that comes as a parked call lands: no call reaches the peer after stop() (the landing hydrates nothing once stopped)', async () => {
  // SIGTERM past the drain, just as the CPE answers a parked lifecycle: its hydration for the
  // landing, begun before stop(), must not start an actor after it (its step would call again).
  const late: string[] = [];
  for (let k = 0; k <= 12; k++) {
    const calls: { resolve(v: CpeResult): void }[] = [];
    const wrapCpe = (inner: CpePort): CpePort => ({ removeIpv6: inner.removeIpv6, configurePd: () => new Promise((resolve) => calls.push({ resolve })) });
    const h = await startHarness({ wrapCpe, config: { runtime: { park_ms: PARK_MS, idle_ms: FAR } } as never });
    let stopped: Promise<void> | null = null;
    try {
      await op(h, 'allocate', { subscriber_id: 'late' }, 5000);
      await op(h, 'activate', { subscriber_id: 'late', username: 'late@isp', cpe_id: 'cpe-late' }, 0);
      await until('parked', () => calls.length === 1 && h.composed.host.parked === 1);
      let atStop = -1;
      calls[0]!.resolve({ status: 'done' });
      afterMicrotasks(k, () => {
        atStop = calls.length;
        stopped = h.composed.stop();
      });
      await until('stopped', () => stopped !== null);
      await stopped;
      await sleep(20);
      if (calls.length !== atStop) late.push(`k=${k}: ${calls.length - atStop} CPE call(s) after stop(), ${h.composed.host.size} actor(s) live`);
    } finally {
      // Its HTTP server too (the stop above closed the service only); stop() runs once.
      await h.close();
    }
  }
  assert.equal(late, [], 'nothing called after stop()');
});

// ---------------------------------------------------------------- memory

/** Weak references to the lifecycle's actor and its step actor, taken while it is live. */
async function actorRefs(h: Harness, s: string) {
  const id = (await h.get(`${BASE}/lifecycle/${s}`)).body.lifecycle_id as string;
  const snapshot = (await h.composed.host.snapshot(id))!;
  const child = Object.values(snapshot.children)[0] as { _parent?: object } | undefined;
  assert.ok(child?._parent, 'the CPE step actor and its parent');
  return { actor: new WeakRef(child._parent), child: new WeakRef(child as object) };
}

async function collected(refs: { actor: WeakRef<object>; child: WeakRef<object> }) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 10 && (refs.actor.deref() || refs.child.deref()); i++) {
    await sleep(20);
    gc();
  }
  return { actor: refs.actor.deref() === undefined, child: refs.child.deref() === undefined };
}

test('a parked lifecycle\'s actor and its step actor are collectable, with a request waiting on it (and not while it is live)', async () => {
  for (const parkMs of [FAR, PARK_MS]) {
    const p = peers(['configurePd']);
    const h = await start(p, { park_ms: parkMs });
    try {
      await op(h, 'allocate', { subscriber_id: 'gc' }, 5000);
      const waiting = op(h, 'activate', { subscriber_id: 'gc', username: 'gc@isp', cpe_id: 'cpe-gc' }, 30_000);
      await until('the CPE call', () => p.calls.length === 1);
      const refs = await actorRefs(h, 'gc');
      if (parkMs < FAR) await until('parked', () => h.composed.host.parked === 1 && h.composed.host.size === 0);
      const gone = await collected(refs);
      if (parkMs < FAR) assert.equal(gone, { actor: true, child: true }, 'parked: both collected');
      else assert.equal(gone, { actor: false, child: false }, 'live: neither collected (the check can fail)');
      p.calls[0]!.release();
      const r = await within('activate', waiting);
      assert.is(r.body.state, 'active');
    } finally {
      await h.close();
    }
  }
});

test.run();
