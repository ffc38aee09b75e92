import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetricCounts, type MetricCounts } from '../../store/counts.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, type LifecycleRow, type LifecycleStore } from '../../store/lifecycles.ts';
import { createRetentionStore, SELECT_EXPIRED, type RetentionStore } from '../../store/retention.ts';
import { applyRetention, RETENTION_BATCH } from '../../runtime/retention.ts';
import { asyncOf } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('store retention (migration 007)');
let db: Db;
let store: LifecycleStore;
let counts: MetricCounts;
let retention: RetentionStore;
test.before.each(() => {
  db = openDatabase(':memory:');
  store = createLifecycleStore(db);
  counts = createMetricCounts(db);
  retention = createRetentionStore(db);
});
test.after.each(() => {
  db.close();
});

const NOW = Date.parse('2026-12-01T02:00:00.000Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString();
const save = (row: LifecycleRow) => store.save(row, auditEntry(row, 'X'));
const ids = () => (db.prepare('SELECT id FROM lifecycles ORDER BY id').all() as { id: string }[]).map((r) => r.id);
const signal = new AbortController().signal;
const scannedByState = () =>
  Object.fromEntries((db.prepare('SELECT state, count(*) AS n FROM lifecycles GROUP BY state').all() as { state: string; n: number }[]).map((r) => [r.state, r.n]));
const keptByState = () => Object.fromEntries(Object.entries(counts.byState()).filter(([, n]) => n > 0));

/** One of each case: only `old-1` and `old-2` are past a 90-day retention and free to go. */
function seed() {
  save(lifecycleRow({ id: 'old-1', state: 'revoked', revoked_at: daysAgo(200) }));
  save(lifecycleRow({ id: 'old-2', state: 'revoked', revoked_at: daysAgo(91) }));
  save(lifecycleRow({ id: 'recent', state: 'revoked', revoked_at: daysAgo(89) }));
  // Revoked long ago, but the ACS never confirmed the CPE's removal: the pending work stays.
  save(lifecycleRow({ id: 'old-pending', state: 'revoked', revoked_at: daysAgo(300), next_pending_at: daysAgo(1) }));
  for (const state of ['allocated', 'active', 'suspended', 'failed', 'revoking']) {
    save(lifecycleRow({ id: `old-${state}`, state, prefix: `2001:db8:${state.length}::/56`, allocated_at: daysAgo(400), updated_at: daysAgo(400) }));
  }
}

test('a run deletes only revoked lifecycles past retention without pending work; the kept counts follow', async () => {
  seed();
  const kept: string[] = [];
  const n = await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal, now: NOW, keep: (l) => kept.push(l.id) });
  assert.is(n, 2);
  assert.equal(kept, ['old-1', 'old-2'], 'oldest revocation first');
  assert.equal(ids(), ['old-active', 'old-allocated', 'old-failed', 'old-pending', 'old-revoking', 'old-suspended', 'recent']);
  assert.equal(keptByState(), scannedByState(), 'ipv6_lifecycle_lifecycles still equals a scan');
  assert.is(counts.pending(), 1);
  assert.is(await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal, now: NOW }), 0, 'a second run finds nothing');
});

test('the audit trail of a deleted lifecycle stays readable and append-only, and its seq goes on', async () => {
  seed();
  const before = store.events('sub-old-1');
  assert.is(before.length, 1);
  await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal, now: NOW });
  assert.is(store.get('old-1'), undefined);
  assert.equal(store.events('sub-old-1'), before);
  assert.throws(() => db.prepare("DELETE FROM audit WHERE lifecycle_id = 'old-1'").run(), /append-only/);
  const last = (db.prepare('SELECT max(seq) AS s FROM audit').get() as { s: number }).s;
  save(lifecycleRow({ id: 'new', state: 'pending' }));
  assert.ok((db.prepare("SELECT seq FROM audit WHERE lifecycle_id = 'new'").get() as { seq: number }).seq > last);
  assert.equal(db.pragma('foreign_key_check'), []);
  // The trail outlives its lifecycle, but is never started for one that does not exist.
  const ghost = "INSERT INTO audit (lifecycle_id, subscriber_id, at, type, to_state) VALUES ('old-1', 'sub-old-1', 'now', 'X', 'revoked')";
  assert.throws(() => db.prepare(ghost).run(), /unknown lifecycle/);
});

test('a dry run lists what the run then deletes and changes nothing', async () => {
  seed();
  const listed: string[] = [];
  const before = { rows: ids(), counts: keptByState() };
  assert.is(await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: true, signal, now: NOW, keep: (l) => listed.push(l.id) }), 2);
  assert.equal({ rows: ids(), counts: keptByState() }, before);
  const deleted: string[] = [];
  await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal, now: NOW, keep: (l) => deleted.push(l.id) });
  assert.equal(deleted, listed);
});

test('the retention query walks its partial index, not the live lifecycles', () => {
  const sql = (db.prepare("SELECT sql FROM sqlite_master WHERE name = 'lifecycles_revoked_at'").get() as { sql: string }).sql;
  assert.match(sql, "WHERE state = 'revoked'");
  const plan = db.prepare(`EXPLAIN QUERY PLAN ${SELECT_EXPIRED}`).all({ cutoff: daysAgo(90), at: '', id: '', limit: 500 }) as { detail: string }[];
  assert.equal(plan.map((p) => p.detail), ['SEARCH lifecycles USING INDEX lifecycles_revoked_at (revoked_at>? AND revoked_at<?)']);
});

test('retention_days 0 keeps every lifecycle', async () => {
  seed();
  assert.is(await applyRetention(asyncOf(retention), { retentionDays: 0, dryRun: false, signal, now: NOW }), 0);
  assert.is(ids().length, 9);
});

test('many expired lifecycles go in batches, the event loop free between them', async () => {
  const rows = RETENTION_BATCH * 2 + 7;
  db.transaction(() => {
    for (let i = 0; i < rows; i++) save(lifecycleRow({ id: `r-${String(i).padStart(5, '0')}`, state: 'revoked', revoked_at: daysAgo(100 + (i % 5)) }));
  })();
  const yielded: number[] = [];
  // The loop runs between batches: a macrotask queued meanwhile gets its turn.
  setImmediate(() => yielded.push(ids().length));
  const n = await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal, now: NOW });
  assert.is(n, rows);
  assert.is(ids().length, 0);
  assert.equal(yielded, [rows - RETENTION_BATCH], 'the first batch was committed before anything else ran');
  assert.equal(keptByState(), {});
});

test('a run aborted (the service stopping) ends after its current batch', async () => {
  db.transaction(() => {
    for (let i = 0; i < RETENTION_BATCH * 3; i++) save(lifecycleRow({ id: `r-${String(i).padStart(5, '0')}`, state: 'revoked', revoked_at: daysAgo(100) }));
  })();
  const abort = new AbortController();
  setImmediate(() => abort.abort());
  const n = await applyRetention(asyncOf(retention), { retentionDays: 90, dryRun: false, signal: abort.signal, now: NOW });
  assert.is(n, RETENTION_BATCH);
  assert.is(ids().length, RETENTION_BATCH * 2);
});

test.run();
