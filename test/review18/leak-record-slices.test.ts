// Review 18 (issue 10): the leak counter looked each leaked finding's lifecycle up, then its stored
// record, awaiting the SQLite store's settled promises: no turn of the event loop between them, so
// 100,000 leaked prefixes (a release path broken for a day) were one turn of 200,000 lookups. It now
// gives the loop back every LEAK_SLICE findings; what it stores is what it stored before.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Discrepancy } from '../../runtime/inventory.ts';
import { createLeakCounter, LEAK_SLICE } from '../../runtime/leak-counter.ts';
import { createMetricCounts, type LeakRecord } from '../../store/counts.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf, type CountsPort } from '../../store/port.ts';
import { perTurn } from '../support/event-loop.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review18: the leak counter looks its findings up a slice per turn');
const N = 4 * LEAK_SLICE + 17;

test(`${N} leaked findings: at most LEAK_SLICE lifecycles and LEAK_SLICE records looked up in one turn, every one stored`, async () => {
  const db = openDatabase(':memory:');
  const lifecycles = asyncOf(createLifecycleStore(db));
  const counts = asyncOf(createMetricCounts(db));
  const revokedAt = '2026-01-01T00:00:00.000Z';
  const found: Discrepancy[] = [];
  for (let i = 0; i < N; i++) {
    const id = `lc-${i}`;
    // Half revoked long ago (counted at once), half unknown to the store (first seen now).
    if (i % 2 === 0) createLifecycleStore(db).save(lifecycleRow({ id, state: 'revoked', revoked_at: revokedAt }), null);
    found.push({ kind: 'leaked', pool: 'residential', prefix: `2001:db8:${i.toString(16)}::/56`, lifecycle_id: id });
  }
  found.push({ ...found[0]! }); // named twice: one leak
  const t = perTurn(() => ({ gets: 0, leaks: 0 }));
  let stored: readonly LeakRecord[] = [];
  const spied: CountsPort = {
    ...counts,
    leak: async (...a) => ((t.now().leaks++), counts.leak(...a)),
    failedPage: async () => [],
    replaceUncounted: async (records) => {
      stored = records;
      await counts.replaceUncounted(records);
    },
  };
  const now = Date.parse('2026-06-01T00:00:00.000Z');
  const counter = createLeakCounter({ counts: spied, store: { get: async (id) => ((t.now().gets++), lifecycles.get(id)) }, leakAfterS: 3600, now: () => now });
  const counted = await counter.record(found);
  t.stop();
  assert.is(counted, Math.ceil(N / 2), 'the revoked ones, past the threshold; the unknown ones are first seen now');
  assert.is(stored.length, N);
  assert.is(stored.filter((r) => r.counted_at !== null).length, Math.ceil(N / 2));
  const most = (k: 'gets' | 'leaks') => Math.max(...t.turns.map((x) => x[k]));
  assert.ok(most('gets') <= LEAK_SLICE, `${most('gets')} lifecycles looked up in one turn`);
  assert.ok(most('leaks') <= LEAK_SLICE, `${most('leaks')} records looked up in one turn`);
  assert.is(t.turns.reduce((n, x) => n + x.gets, 0), N + 1);
  db.close();
});

test.run();
