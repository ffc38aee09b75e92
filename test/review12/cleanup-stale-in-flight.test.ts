// The clean-up's stale revocations are paced: it waits for each to end before starting more than
// a few, so a thousand stale allocations never become a thousand revocations in flight competing
// with the API for the event loop (runtime/cleanup.ts `STALE_IN_FLIGHT`).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { IpamPort } from '../../services/ipam/port.ts';
import { STALE_IN_FLIGHT, STALE_WAIT_MS } from '../../runtime/cleanup.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('clean-up: stale revocations in flight');
let h: Harness;
let releasing = 0;
let most = 0;
// Subscribers whose release never answers (a peer that hangs): until the test ends.
const hanging = new Set<string>();
let unhang: () => void = () => {};

test.before.each(async () => {
  releasing = most = 0;
  const slowRelease = (fake: IpamPort): IpamPort => ({
    ...fake,
    async release(cmd, signal) {
      most = Math.max(most, ++releasing);
      if (hanging.has(cmd.subscriberId ?? '')) await new Promise<void>((resolve) => (unhang = resolve));
      try {
        await new Promise((resolve) => setTimeout(resolve, 20));
        return await fake.release(cmd, signal);
      } finally {
        releasing--;
      }
    },
  });
  h = await startHarness({ wrapIpam: slowRelease, config: { runtime: { stale_allocated_after_s: 60 } } });
});
test.after.each(async () => {
  unhang();
  hanging.clear();
  await h.close();
});

const makeStale = async (subscribers: string[]) => {
  for (const s of subscribers) {
    const id = (await h.post('allocate', { subscriber_id: s })).body.lifecycle_id;
    const row = h.composed.store.get(id)!;
    h.composed.store.save({ ...row, allocated_at: new Date(Date.now() - 3_600_000).toISOString() }, null);
  }
};

test('POST /jobs/cleanup revokes 12 stale allocations with at most STALE_IN_FLIGHT releases at once', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) ids.push((await h.post('allocate', { subscriber_id: `stale-${i}` })).body.lifecycle_id);
  for (const id of ids) {
    const row = h.composed.store.get(id)!;
    h.composed.store.save({ ...row, allocated_at: new Date(Date.now() - 3_600_000).toISOString() }, null);
  }
  const job = await h.post('jobs/cleanup', {});
  assert.is(job.status, 200);
  assert.is(job.body.counts.stale_revoked, 12);
  assert.ok(most >= 1 && most <= STALE_IN_FLIGHT, `${most} releases in flight at once`);
  // Answered once they ended: every one is revoked and its prefix given back.
  for (let i = 0; i < 12; i++) assert.is((await h.get(`${BASE}/lifecycle/stale-${i}`)).body.state, 'revoked', `stale-${i}`);
  assert.equal(h.ipam.allocations(), []);
});

test('a revocation that does not end (its release hangs) holds the job no longer than STALE_WAIT_MS; the others are revoked', async () => {
  hanging.add('hang-0');
  await makeStale(['hang-0', 'ok-1', 'ok-2']);
  const t0 = Date.now();
  const late = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the job did not answer: it waits on the hanging revocation')), STALE_WAIT_MS + 4000).unref());
  const job = await Promise.race([h.post('jobs/cleanup', {}), late]);
  const took = Date.now() - t0;
  assert.equal([job.status, job.body.counts?.stale_revoked], [200, 3], job.text);
  assert.ok(took >= STALE_WAIT_MS - 100 && took < STALE_WAIT_MS + 4000, `answered after ${took} ms`);
  for (const s of ['ok-1', 'ok-2']) assert.is((await h.get(`${BASE}/lifecycle/${s}`)).body.state, 'revoked', s);
  assert.is((await h.get(`${BASE}/lifecycle/hang-0`)).body.state, 'revoking');
});

test.run();
