// runtime.max_live_actors: more lifecycles touched than the cap never keeps more than the cap in
// memory (least recently used settled actors go first), every operation is still answered as
// without a cap, and an unloaded lifecycle comes back from the store. A revoked lifecycle's actor
// is unloaded as soon as its last snapshot is on disk.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from '../http/support.ts';

const CAP = 5;
const test = suite('ActorHost: the live-actor cap');
let h: Harness;

test.before.each(async () => {
  h = await startHarness({ config: { runtime: { max_live_actors: CAP, idle_ms: 60_000 } } });
});
test.after.each(async () => {
  await h.close();
});

/** Runs `fn` while sampling the number of live actors on every turn; returns the largest seen. */
async function peakWhile(fn: () => Promise<void>): Promise<number> {
  let peak = 0;
  let on = true;
  const sample = () => {
    peak = Math.max(peak, h.composed.host.size);
    if (on) setImmediate(sample);
  };
  sample();
  try {
    await fn();
  } finally {
    on = false;
  }
  return Math.max(peak, h.composed.host.size);
}

test('40 lifecycles through a cap of 5: never more than 5 live, every answer right, unloaded ones rehydrate', async () => {
  const subs = Array.from({ length: 40 }, (_, i) => `cap-${i}`);
  const prefixes = new Map<string, string>();
  const peak = await peakWhile(async () => {
    // Four at a time, so several are in flight together.
    for (let i = 0; i < subs.length; i += 4) {
      await Promise.all(
        subs.slice(i, i + 4).map(async (s) => {
          const a = await h.post('allocate', { subscriber_id: s });
          assert.is(a.status, 201, s);
          assert.is(a.body.state, 'allocated');
          prefixes.set(s, a.body.prefix as string);
          const b = await h.post('activate', { subscriber_id: s, username: `${s}@isp` });
          assert.is(b.status, 200, s);
          assert.is(b.body.state, 'active');
        }),
      );
    }
    // The first ones were unloaded long ago: they come back from the store with their prefix.
    for (const s of subs.slice(0, 10)) {
      const r = await h.post('suspend', { subscriber_id: s });
      assert.is(r.status, 200, s);
      assert.is(r.body.state, 'suspended');
      assert.is(r.body.prefix, prefixes.get(s));
      const again = await h.post('suspend', { subscriber_id: s });
      assert.is(again.status, 409, 'a refused transition answers as without a cap');
    }
  });
  assert.ok(peak <= CAP, `at most ${CAP} actors live, saw ${peak}`);
  assert.is(new Set(prefixes.values()).size, 40, 'every lifecycle kept its own prefix');
  const got = await h.get(`/api/v1/network/ipv6/lifecycle/${subs[39]}`);
  assert.is(got.body.state, 'active');
});

test('a revoked lifecycle is unloaded once stored, without waiting for idle_ms', async () => {
  await h.post('allocate', { subscriber_id: 'gone' });
  const r = await h.post('revoke', { subscriber_id: 'gone' });
  assert.is(r.body.state, 'revoked');
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(h.composed.host.size, 0);
  const again = await h.post('revoke', { subscriber_id: 'gone' });
  assert.is(again.status, 200, 'revoking a revoked lifecycle still answers with it');
  assert.is(again.body.state, 'revoked');
});

test.run();
