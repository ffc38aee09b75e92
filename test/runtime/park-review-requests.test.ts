// runtime.park_ms, attacked from outside, around the steps: Idempotency-Key replays of a parked
// operation, reads of a parked lifecycle, shutdown while parked, many operations waiting on parked
// lifecycles past a tiny max_live_actors, a stop as a parked call lands, and that a parked
// lifecycle's actor really is collectable.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpePort, CpeResult } from '../../services/genieacs/port.ts';
import { BASE, startHarness, type Answer, type Harness } from '../http/support.ts';
import { FAR, op, PARK_MS, peers, sleep, start, until, within } from './park-review-support.ts';

const test = suite('park review: requests on parked lifecycles driven through the API');

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
