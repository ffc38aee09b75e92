import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Discrepancy } from '../../runtime/inventory.ts';
import { createLeakCounter } from '../../runtime/leak-counter.ts';
import { createMetricCounts } from '../../store/counts.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('runtime leak counter (ipv6_prefix_leak_total)');
let dir: string;
const open: Db[] = [];
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'leak-counter-'));
});
test.after.each(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const REVOKED_AT = '2026-03-01T00:00:00.000Z';
const HOUR = 3_600_000;

/** The service's store on the test's file; opening it again models a restart. */
function start(nowMs: number) {
  const db = openDatabase(join(dir, 'x.sqlite'));
  open.push(db);
  const store = createLifecycleStore(db);
  const counts = createMetricCounts(db);
  return { db, store, counts, leaks: createLeakCounter({ counts: asyncOf(counts), store: asyncOf(store), leakAfterS: 86_400, now: () => nowMs }) };
}

const planted: Discrepancy = { kind: 'leaked', pool: 'residential', prefix: '2001:db8:7::/56', lifecycle_id: 'gone' };

test('a prefix IPAM still marks for a revoked lifecycle counts once, after leak_after_s from revoked_at, and never again, restarts included', async () => {
  let s = start(Date.parse(REVOKED_AT) + 23 * HOUR);
  s.store.save(lifecycleRow({ id: 'gone', state: 'revoked', revoked_at: REVOKED_AT, prefix: planted.prefix }), null);
  assert.is(await s.leaks.record([planted]), 0, 'within 24 h of the termination: not yet a leak');
  assert.is(s.counts.leaksCounted(), 0);
  s = start(Date.parse(REVOKED_AT) + 25 * HOUR);
  assert.is(await s.leaks.record([planted, planted]), 1, 'two findings of one prefix are one leak');
  assert.is(await s.leaks.record([planted]), 0, 'the next check counts it not again');
  assert.is(s.counts.leaksCounted(), 1);
  s.db.close();
  s = start(Date.parse(REVOKED_AT) + 48 * HOUR);
  assert.is(await s.leaks.record([planted]), 0, 'nor a check after a restart');
  assert.is(s.counts.leaksCounted(), 1);
});

test('a leak with no termination time (an unknown lifecycle) counts leak_after_s after a check first saw it; one returned before is forgotten', async () => {
  const t0 = Date.parse(REVOKED_AT);
  let s = start(t0);
  assert.is(await s.leaks.record([planted]), 0);
  s = start(t0 + 12 * HOUR);
  assert.is(await s.leaks.record([]), 0, 'returned in time');
  s = start(t0 + 30 * HOUR);
  assert.is(await s.leaks.record([planted]), 0, 'seen again: its clock starts again');
  s = start(t0 + 55 * HOUR);
  assert.is(await s.leaks.record([planted]), 1);
});

test('a lifecycle failed in a revocation step still has its prefix: counted once, 24 h after the failure', async () => {
  const s = start(Date.parse(REVOKED_AT) + 25 * HOUR);
  const failure = { step: 'radius_remove_reply', code: 'upstream_unavailable', message: 'down', attempts: 6, at: REVOKED_AT };
  s.store.save(lifecycleRow({ id: 'f', state: 'failed', prefix: '2001:db8:9::/56' }, { failedAt: 'revoke_radius', failure }), null);
  // Failed in an activation: it still serves its subscriber, not a leak.
  s.store.save(lifecycleRow({ id: 'g', state: 'failed', prefix: '2001:db8:a::/56' }, { failedAt: 'activate_radius', failure }), null);
  assert.is(await s.leaks.record([]), 1);
  assert.is(await s.leaks.record([]), 0);
  assert.equal(s.counts.leak('f', '2001:db8:9::/56')?.counted_at, new Date(Date.parse(REVOKED_AT) + 25 * HOUR).toISOString());
});

test('through the service: a planted leak moves ipv6_prefix_leak_total once, not on the next check, not after a restart', async () => {
  const total = async (h: Harness) => (await h.get('/metrics', { token: null })).text.match(/^ipv6_prefix_leak_total (\d+)$/m)?.[1];
  const config = { runtime: { leak_after_s: 0, reclaim_leaks: false } };
  let h = await startHarness({ dir, config });
  try {
    await h.post('allocate', { subscriber_id: 'p' });
    const id = (await h.get('/api/v1/network/ipv6/lifecycle/p')).body.lifecycle_id as string;
    await h.post('revoke', { subscriber_id: 'p', reason: 'test' });
    const plant = (x: Harness) => x.ipam.allocate({ key: 'planted', lifecycleId: id, subscriberId: 'p', pool: 'residential', prefixLength: 56 });
    await plant(h);
    assert.is(await total(h), '0');
    await h.composed.cleanup();
    assert.is(await total(h), '1');
    await h.composed.cleanup();
    assert.is(await total(h), '1', 'the next check counts it not again');
    await h.close();
    h = await startHarness({ dir, config });
    await plant(h);
    await h.composed.cleanup();
    assert.is(await total(h), '1', 'a restart counts it not again');
  } finally {
    await h.close();
  }
});

test.run();
