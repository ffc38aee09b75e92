// A stale revocation the clean-up stops waiting for (STALE_WAIT_MS) goes on in the background: with
// a peer hanging, one run would start them all, 4 every 5 s, which is the pile-up the pacing is
// there to prevent. Past STALE_UNFINISHED_MAX unfinished ones it starts no more and leaves the rest
// to its next run. createCleanup with a store of stale rows and a service whose revocations never end.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCleanup, type CleanupDeps } from '../../runtime/cleanup.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';

const test = suite('review12: the clean-up leaves stale revocations to its next run once too many are unfinished');

const old = new Date(Date.now() - 3_600_000).toISOString();
const rows: LifecycleRow[] = Array.from({ length: 12 }, (_, i) => ({ id: `l-${i}`, subscriber_id: `s-${i}`, state: 'allocated', busy: 0, allocated_at: old, created_at: old }) as unknown as LifecycleRow);

test('revocations that never end: the run starts unfinishedMax of them (give or take the few in flight) and answers', async () => {
  const started: string[] = [];
  const hang = new Promise<never>(() => {});
  const deps = {
    store: { list: async () => rows, get: async (id: string) => rows.find((r) => r.id === id) },
    service: { revoke: async (req: { subscriber_id: string }) => (started.push(req.subscriber_id), { final: hang }) },
    log: pino({ level: 'silent' }),
    staleAllocatedAfterS: 60,
    stalePacing: { inFlight: 2, waitMs: 20, unfinishedMax: 5 },
  } as unknown as CleanupDeps;
  const revoked = await createCleanup(deps).revokeStale();
  assert.ok(started.length >= 5 && started.length <= 5 + 2, `${started.length} started`);
  assert.is(revoked, started.length);
  assert.ok(started.length < rows.length, 'the rest left for the next run');
});

test.run();
