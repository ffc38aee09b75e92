// runtime.park_ms: a lifecycle whose step waits on a slow peer, with no request waiting on it, is
// parked: its actor is unloaded and the step's call goes on (runtime/flights.ts). When the call
// ends, the lifecycle is hydrated again and takes the outcome without calling the peer twice; a
// request meanwhile joins the call; a failure lands as it would have; shutdown gives the call up
// and the next start runs it again; past max_live_actors, in-flight actors are parked too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpeCommand, CpePort, CpeResult } from '../../services/genieacs/port.ts';
import { ServiceError } from '../../services/errors.ts';
import { publicState } from '../../runtime/projection.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const PARK_MS = 20;
const test = suite('ActorHost: parking in-flight lifecycles (runtime.park_ms)');

/** A CPE whose configurePd calls are held until released one by one (or all), counted per key. */
function heldCpe() {
  const calls: { key: string; signal: AbortSignal | undefined; release(result: CpeResult | Error): void }[] = [];
  const wrap = (inner: CpePort): CpePort => ({
    removeIpv6: inner.removeIpv6,
    configurePd: (cmd: CpeCommand & { prefix: string }, signal?: AbortSignal) =>
      new Promise<CpeResult>((resolve, reject) => {
        calls.push({ key: cmd.key, signal, release: (r) => (r instanceof Error ? reject(r) : void inner.configurePd(cmd, signal).then(resolve, reject)) });
      }),
  });
  return { wrap, calls, keys: () => calls.map((c) => c.key) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

async function start(cpe: ReturnType<typeof heldCpe>, config: Record<string, unknown> = {}, dir?: string): Promise<Harness> {
  return startHarness({ wrapCpe: cpe.wrap, ...(dir ? { dir } : {}), config: { runtime: { park_ms: PARK_MS, idle_ms: 60_000, ...config } } as never });
}

/** Allocates and starts the activation without waiting: its CPE step is held. */
async function activateHeld(h: Harness, s: string): Promise<string> {
  const a = await h.post('allocate', { subscriber_id: s });
  assert.is(a.status, 201, `allocate ${s}`);
  const r = await h.request('POST', `${BASE}/activate?wait=0`, { json: { subscriber_id: s, username: `${s}@isp`, cpe_id: `cpe-${s}` } });
  assert.is(r.status, 202, `activate ${s} answers before the CPE`);
  return a.body.lifecycle_id as string;
}

/** What an activation held at the CPE and then answered leaves: the trail's types and states, the CPE's commands. */
async function heldActivation(parkMs: number) {
  const cpe = heldCpe();
  const h = await start(cpe, { park_ms: parkMs });
  try {
    await activateHeld(h, 'slow');
    await until('the CPE call', () => cpe.calls.length === 1);
    await sleep(PARK_MS * 5);
    const scrape = (await h.get('/metrics')).text;
    const gauge = (kind: string) => Number(new RegExp(`^ipv6_lifecycles_in_memory\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(scrape)?.[1] ?? NaN);
    const parked = { live: h.composed.host.size, parked: h.composed.host.parked, aborted: cpe.calls[0]!.signal?.aborted ?? false, gauges: [gauge('actor'), gauge('parked')] };
    cpe.calls[0]!.release({ status: 'done' });
    const done = await untilState(h, 'slow', 'active');
    const events = (await h.get(`${BASE}/lifecycle/slow/events`)).body.events as { type: string; from_state: string | null; to_state: string }[];
    return {
      parked,
      state: done.body.state,
      calls: cpe.keys().length,
      onCpe: h.cpe.cpe('cpe-slow')?.prefix === done.body.prefix,
      trail: events.map((e) => `${e.type} ${e.from_state}→${e.to_state}`),
      parkedAfter: h.composed.host.parked,
    };
  } finally {
    await h.close();
  }
}

test('a slow CPE step is parked: no actor in memory, one call to the CPE, and the same lifecycle as unparked when it answers', async () => {
  const parked = await heldActivation(PARK_MS);
  assert.equal(parked.parked, { live: 0, parked: 1, aborted: false, gauges: [0, 1] }, 'parked: no actor, the call going on');
  const unparked = await heldActivation(60_000);
  assert.equal(unparked.parked, { live: 1, parked: 0, aborted: false, gauges: [1, 0] }, 'park_ms not reached: the actor stays');
  assert.is(parked.state, 'active');
  assert.is(parked.calls, 1, 'the restored step took the outcome instead of calling the CPE again');
  assert.ok(parked.onCpe);
  assert.is(parked.parkedAfter, 0);
  assert.equal(parked.trail, unparked.trail, 'the trail is the one an unparked activation writes');
});

test('a bounded wait on a parked lifecycle hydrates it and joins its call: one call, never parked under the wait', async () => {
  const cpe = heldCpe();
  const h = await start(cpe);
  try {
    const id = await activateHeld(h, 'joined');
    await until('the actor parked', () => h.composed.host.parked === 1 && h.composed.host.size === 0);
    const waiting = h.composed.host.settle(id, 10_000);
    await until('the actor hydrated', () => h.composed.host.size === 1);
    await sleep(PARK_MS * 5);
    assert.is(h.composed.host.size, 1, 'never parked while a bounded wait is on it');
    assert.is(h.composed.host.parked, 0);
    assert.is(cpe.calls.length, 1, 'the hydrated actor joined the call under way');
    cpe.calls[0]!.release({ status: 'done' });
    const { settled, snapshot } = await waiting;
    assert.ok(settled);
    assert.is(publicState(snapshot), 'active');
    assert.is(cpe.calls.length, 1);
  } finally {
    await h.close();
  }
});

test('an operation queued behind a parked one follows it: revoke waits for the parked activation, then runs', async () => {
  const cpe = heldCpe();
  const h = await start(cpe);
  try {
    await activateHeld(h, 'next');
    await until('the actor parked', () => h.composed.host.parked === 1);
    // With a key: a queued operation without one is refused past its wait (test/review10 queued-not-started).
    const r = await h.request('POST', `${BASE}/revoke?wait=0`, { json: { subscriber_id: 'next' }, headers: { 'Idempotency-Key': 'revoke-next' } });
    assert.is(r.status, 202);
    await sleep(PARK_MS * 5);
    assert.is(h.composed.host.size, 0, 'still parked: the queued revoke holds no actor');
    cpe.calls[0]!.release({ status: 'done' });
    const done = await untilState(h, 'next', 'revoked');
    assert.is(done.body.state, 'revoked');
    assert.is(cpe.calls.length, 1, 'configured once');
    assert.equal(h.cpe.cpe('cpe-next')?.log.map((l) => l.op), ['configurePd', 'removeIpv6'], 'configured, then IPv6 removed on revoke');
  } finally {
    await h.close();
  }
});

test('a parked call that fails lands as a failure: the lifecycle fails as it would have, and a retry calls again', async () => {
  const cpe = heldCpe();
  const h = await start(cpe);
  try {
    await activateHeld(h, 'fails');
    await until('the actor parked', () => h.composed.host.parked === 1);
    cpe.calls[0]!.release(new ServiceError('upstream_rejected', 'the ACS refused the parameters'));
    const failed = await untilState(h, 'fails', 'failed');
    assert.is(failed.body.state, 'failed');
    assert.match(JSON.stringify(failed.body), /refused the parameters/);
    const retry = await h.request('POST', `${BASE}/retry?wait=0`, { json: { subscriber_id: 'fails' } });
    assert.ok(retry.status === 202 || retry.status === 200, `retry: ${retry.status}`);
    await until('a second call', () => cpe.calls.length === 2);
    cpe.calls[1]!.release({ status: 'done' });
    assert.is((await untilState(h, 'fails', 'active')).body.state, 'active');
  } finally {
    await h.close();
  }
});

test('past max_live_actors, in-flight actors are parked too: at most the cap live, every activation done once', async () => {
  const cpe = heldCpe();
  // park_ms far off: only the cap parks them.
  const h = await start(cpe, { max_live_actors: 3, park_ms: 60_000 });
  try {
    const subs = Array.from({ length: 10 }, (_, i) => `cap-${i}`);
    for (const s of subs) await activateHeld(h, s);
    await until('ten CPE calls', () => cpe.calls.length === 10);
    await h.composed.host.afterCommit();
    await sleep(10);
    assert.ok(h.composed.host.size <= 3, `at most 3 actors live, saw ${h.composed.host.size}`);
    assert.ok(h.composed.host.parked >= 7, `the rest parked, saw ${h.composed.host.parked}`);
    for (const c of [...cpe.calls]) c.release({ status: 'done' });
    for (const s of subs) assert.is((await untilState(h, s, 'active')).body.state, 'active', s);
    assert.is(cpe.calls.length, 10, 'no CPE command sent twice');
    assert.is(new Set(cpe.keys()).size, 10);
  } finally {
    await h.close();
  }
});

test('a stop gives a parked call up (aborted); the next start runs the step again and the lifecycle goes active', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'park-'));
  try {
    const cpe = heldCpe();
    const h = await start(cpe, {}, dir);
    await activateHeld(h, 'restart');
    await until('the actor parked', () => h.composed.host.parked === 1);
    await h.close();
    assert.ok(cpe.calls[0]!.signal?.aborted, 'the stop aborted the call');
    const again = heldCpe();
    const h2 = await start(again, {}, dir);
    try {
      await until('the step resumed', () => again.calls.length === 1);
      assert.is(again.calls[0]!.key, cpe.calls[0]!.key, 'the same step, by its key');
      again.calls[0]!.release({ status: 'done' });
      assert.is((await untilState(h2, 'restart', 'active')).body.state, 'active');
    } finally {
      await h2.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

async function untilState(h: Harness, s: string, state: string) {
  const end = Date.now() + 3000;
  for (;;) {
    const r = await h.get(`${BASE}/lifecycle/${s}`);
    if (r.body.state === state || Date.now() > end) return r;
    await sleep(5);
  }
}

test.run();
