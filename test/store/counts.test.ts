import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetricCounts, type MetricCounts } from '../../store/counts.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, type LifecycleRow, type LifecycleStore } from '../../store/lifecycles.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('store metric counts (migration 006)');
let db: Db;
let store: LifecycleStore;
let counts: MetricCounts;
test.before.each(() => {
  db = openDatabase(':memory:');
  store = createLifecycleStore(db);
  counts = createMetricCounts(db);
});
test.after.each(() => {
  db.close();
});

/** The figures as a scan would compute them: what the kept counts must equal. */
function scanned() {
  const byState = Object.fromEntries(
    (db.prepare('SELECT state, count(*) AS n FROM lifecycles GROUP BY state').all() as { state: string; n: number }[]).map((r) => [r.state, r.n]),
  );
  const pending = (db.prepare('SELECT count(*) AS n FROM lifecycles WHERE next_pending_at IS NOT NULL').get() as { n: number }).n;
  const shared = (
    db.prepare("SELECT count(*) AS n FROM (SELECT prefix FROM lifecycles WHERE state <> 'revoked' AND prefix IS NOT NULL GROUP BY prefix HAVING count(*) > 1)").get() as {
      n: number;
    }
  ).n;
  return { byState, pending, shared };
}
const kept = () => ({ byState: Object.fromEntries(Object.entries(counts.byState()).filter(([, n]) => n > 0)), pending: counts.pending(), shared: counts.shared() });
const save = (row: LifecycleRow) => store.save(row, auditEntry(row, 'X'));

test('counts follow every write: states, pending steps and shared prefixes equal a scan after each one', () => {
  const steps: LifecycleRow[] = [
    lifecycleRow({ id: 'a', state: 'pending' }),
    lifecycleRow({ id: 'a', state: 'allocated', prefix: '2001:db8:1::/56', allocated_at: '2026-03-01T10:00:00.000Z' }),
    lifecycleRow({ id: 'b', state: 'active', prefix: '2001:db8:2::/56', allocated_at: '2026-03-01T10:00:00.000Z' }),
    lifecycleRow({ id: 'b', state: 'active', prefix: '2001:db8:2::/56', next_pending_at: '2026-03-01T11:00:00.000Z' }),
    // A second live lifecycle on a's prefix: one shared prefix.
    lifecycleRow({ id: 'c', state: 'active', prefix: '2001:db8:1::/56', allocated_at: '2026-03-01T12:00:00.000Z' }),
    lifecycleRow({ id: 'b', state: 'suspended', prefix: '2001:db8:2::/56', next_pending_at: '2026-03-01T12:00:00.000Z' }),
    // c moves to another prefix: nothing shared any more.
    lifecycleRow({ id: 'c', state: 'active', prefix: '2001:db8:3::/56', allocated_at: '2026-03-01T12:00:00.000Z' }),
    lifecycleRow({ id: 'd', state: 'active', prefix: '2001:db8:3::/56', allocated_at: '2026-03-01T12:00:00.000Z' }),
    // d revoked: its prefix is no longer live, so c's is not shared.
    lifecycleRow({ id: 'd', state: 'revoked', prefix: '2001:db8:3::/56', allocated_at: '2026-03-01T12:00:00.000Z', revoked_at: '2026-03-02T09:30:00.000Z' }),
    lifecycleRow({ id: 'b', state: 'active', prefix: '2001:db8:2::/56' }),
  ];
  for (const row of steps) {
    save(row);
    assert.equal(kept(), scanned(), `after ${row.id} → ${row.state}`);
  }
  assert.equal(kept().byState, { allocated: 1, active: 2, revoked: 1 });
  // Retention's delete (its audit rows stay: the foreign key is not what this test is about).
  db.pragma('foreign_keys = OFF');
  db.prepare("DELETE FROM lifecycles WHERE id = 'd'").run();
  assert.equal(kept(), scanned(), 'after deleting a revoked lifecycle');
});

test('a prefix shown by three live lifecycles stays shared until one is left on it (migration 013: shared_prefixes)', () => {
  const on = (id: string, state = 'active', prefix = '2001:db8:9::/56') => lifecycleRow({ id, state, prefix, revoked_at: state === 'revoked' ? '2026-03-02T09:30:00.000Z' : null });
  const listed = () => store.sharedPrefixes().map((p) => `${p.prefix} ${[...p.lifecycle_ids].sort().join(',')}`);
  for (const [row, shared] of [
    [on('a'), []],
    [on('b'), ['2001:db8:9::/56 a,b']],
    [on('c', 'suspended'), ['2001:db8:9::/56 a,b,c']],
    [on('a', 'revoked'), ['2001:db8:9::/56 b,c']],
    [on('b', 'active', '2001:db8:8::/56'), []],
    [on('d', 'pending'), ['2001:db8:9::/56 c,d']],
  ] as [LifecycleRow, string[]][]) {
    save(row);
    assert.equal(kept(), scanned(), `after ${row.id} → ${row.state}`);
    assert.equal(listed(), shared, `after ${row.id} → ${row.state}`);
  }
  db.pragma('foreign_keys = OFF');
  save(on('d', 'revoked'));
  db.prepare("DELETE FROM lifecycles WHERE id = 'd'").run();
  assert.equal(kept(), scanned(), 'after deleting a revoked lifecycle');
  assert.equal(listed(), []);
});

test('saveBatch keeps the counts in the same transaction: a failed batch changes none of them', () => {
  save(lifecycleRow({ id: 'a', state: 'active' }));
  const before = kept();
  const bad = { ...lifecycleRow({ id: 'b', state: 'active' }), snapshot: null } as unknown as LifecycleRow;
  assert.throws(() => store.saveBatch([{ row: lifecycleRow({ id: 'c', state: 'pending' }), audit: auditEntry(lifecycleRow({ id: 'c' }), 'X') }, { row: bad, audit: auditEntry(bad, 'X') }]));
  assert.equal(kept(), before);
});

test('countByState and countPending of the lifecycle store read the kept counts', () => {
  save(lifecycleRow({ id: 'a', state: 'active', next_pending_at: '2026-03-01T11:00:00.000Z' }));
  save(lifecycleRow({ id: 'b', state: 'revoked' }));
  assert.equal(store.countByState(), { active: 1, revoked: 1 });
  assert.is(store.countPending(), 1);
});

test('flows: lifecycles that got a prefix and that were revoked, per pool, hour and length', () => {
  save(lifecycleRow({ id: 'a', state: 'pending' }));
  save(lifecycleRow({ id: 'a', state: 'allocated', prefix: '2001:db8:1::/56', allocated_at: '2026-03-01T10:05:00.000Z' }));
  save(lifecycleRow({ id: 'a', state: 'active', prefix: '2001:db8:1::/56', allocated_at: '2026-03-01T10:05:00.000Z' }));
  save(lifecycleRow({ id: 'b', state: 'allocated', prefix: '2001:db8:2::/56', allocated_at: '2026-03-01T11:00:00.000Z' }));
  save(lifecycleRow({ id: 'b', state: 'revoked', prefix: '2001:db8:2::/56', allocated_at: '2026-03-01T11:00:00.000Z', revoked_at: '2026-03-02T08:00:00.000Z' }));
  save(lifecycleRow({ id: 'c', pool: 'business', prefix_length: 48, state: 'allocated', allocated_at: '2026-03-01T12:00:00.000Z' }));
  // A refused allocation is revoked without ever having had a prefix: not a revocation of one.
  save(lifecycleRow({ id: 'e', state: 'pending' }));
  save(lifecycleRow({ id: 'e', state: 'revoked', revoked_at: '2026-03-01T10:00:00.000Z' }));
  assert.equal(counts.flows('2026-03-01T00'), [
    { pool: 'business', prefix_length: 48, allocated: 1, revoked: 0, since: '2026-03-01T12' },
    { pool: 'residential', prefix_length: 56, allocated: 2, revoked: 1, since: '2026-03-01T10' },
  ]);
  assert.equal(counts.flows('2026-03-01T12'), [
    { pool: 'business', prefix_length: 48, allocated: 1, revoked: 0, since: '2026-03-01T12' },
    { pool: 'residential', prefix_length: 56, allocated: 0, revoked: 1, since: '2026-03-02T08' },
  ]);
});

test('migration 006 seeds the counts from lifecycles stored before it', () => {
  const raw = openDatabase(':memory:');
  try {
    const s = createLifecycleStore(raw);
    s.save(lifecycleRow({ id: 'a', state: 'active', prefix: '2001:db8:1::/56' }), null);
    s.save(lifecycleRow({ id: 'b', state: 'active', prefix: '2001:db8:1::/56', next_pending_at: '2026-03-01T11:00:00.000Z' }), null);
    // Back to before 006, and run it again over the stored rows.
    raw.exec('DROP TABLE lifecycle_counts; DROP TABLE shared_prefixes; DROP TABLE pool_tally; DROP TABLE prefix_leaks');
    for (const t of raw.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'lifecycle_counts_%'").all() as { name: string }[]) raw.exec(`DROP TRIGGER ${t.name}`);
    raw.exec(readMigration('006-metric-counts.sql'));
    // And 014's hour index and window on pool_tally, which went with the table: the forecast's read names the index.
    raw.exec(readMigration('014-bounded-reads.sql'));
    const c = createMetricCounts(raw);
    assert.equal(c.byState(), { pending: 0, allocated: 0, active: 2, suspended: 0, revoking: 0, revoked: 0, failed: 0 });
    assert.is(c.pending(), 1);
    assert.is(c.shared(), 1);
  } finally {
    raw.close();
  }
});

const readMigration = (name: string) => readFileSync(new URL(`../../store/migrations/${name}`, import.meta.url), 'utf8');

test.run();
