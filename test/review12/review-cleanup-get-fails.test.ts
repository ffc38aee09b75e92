// The clean-up's re-read of a stale row (runtime/cleanup.ts revokeOne) can fail (PostgreSQL out of
// reach). Its promise sat in the in-flight set with nothing attached while the job awaited the next
// page: the rejection was unhandled, which ends a Node 20 process. A failed re-read is that row's
// failure, warned as a failed revocation is, and the job goes on.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createCleanup, type CleanupDeps } from '../../runtime/cleanup.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';

const test = suite('review: clean-up, a stale row re-read fails');
const old = new Date(Date.now() - 3_600_000).toISOString();
const row = (id: string, allocated_at: string) => ({ id, subscriber_id: `s-${id}`, state: 'allocated', busy: 0, allocated_at, created_at: allocated_at }) as unknown as LifecycleRow;

test('a failed store.get of one stale row is no unhandled rejection; the other stale rows are revoked', async () => {
  // First page: one stale row, 499 recent ones (a full page, so a second is read, slowly).
  const first = [row('stale-0', old), ...Array.from({ length: 498 }, (_, i) => row(`new-${i}`, new Date().toISOString())), row('stale-1', old)];
  let lists = 0;
  const revoked: string[] = [];
  const store = {
    list: async () => (lists++ === 0 ? first : new Promise<LifecycleRow[]>((r) => setTimeout(() => r([]), 100))),
    get: async (id: string) => {
      if (id === 'stale-0') throw new Error('connection terminated');
      return first.find((r) => r.id === id);
    },
  } as unknown as CleanupDeps['store'];
  const service = { revoke: async (b: { subscriber_id: string }) => (revoked.push(b.subscriber_id), null) } as unknown as CleanupDeps['service'];
  const cleanup = createCleanup({ store, service, ipam: {} as CleanupDeps['ipam'], inventory: {} as CleanupDeps['inventory'], log: pino({ level: 'silent' }), staleAllocatedAfterS: 60, reclaimLeaks: false });
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let n: number | Error;
  try {
    n = await cleanup.revokeStale().catch((e: Error) => e);
    await new Promise((r) => setImmediate(r));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  assert.equal(unhandled.map(String), [], 'no unhandled rejection');
  assert.is(n, 1);
  assert.equal(revoked, ['s-stale-1']);
});

test.run();
