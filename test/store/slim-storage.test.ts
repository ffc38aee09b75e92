// Migration 013 (issue 10, database size): on a database built at the previous schema, every row and
// every answer stays as it was; the trail is stored encoded and read back as the text written.
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LIFECYCLE_STATES } from '../../machines/types.ts';
import { createAuditRetention } from '../../store/audit-retention.ts';
import { createMetricCounts } from '../../store/counts.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, listSql, type AuditEntry, type LifecycleRow } from '../../store/lifecycles.ts';
import { compactSnapshotSql } from '../../store/snapshot-codec.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('store: migration 013 (slim storage)');
const migrationsDir = join(import.meta.dirname, '../../store/migrations');

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-013-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

/** A database file at migration 012, the schema before this one. */
function at012(file: string): Db {
  const db = new Database(file);
  db.function('compact_snapshot', { deterministic: true, varargs: true }, compactSnapshotSql);
  for (const f of readdirSync(migrationsDir).filter((f) => /^\d{3}-.+\.sql$/.test(f)).sort()) {
    if (Number(f.slice(0, 3)) > 12) break;
    db.exec(readFileSync(join(migrationsDir, f), 'utf8'));
  }
  db.pragma('user_version = 12');
  return db;
}

const UUID = (n: number) => `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const T = (m: number) => `2026-01-01T00:0${m}:00.000Z`;

/** Rows as the previous schema's store wrote them (plain SQL: the new store no longer writes that schema). */
function seed(db: Db): void {
  const rows: LifecycleRow[] = [
    lifecycleRow({ id: UUID(1), subscriber_id: 's1', state: 'revoked', created_at: T(1), revoked_at: T(2) }),
    lifecycleRow({ id: UUID(2), subscriber_id: 's1', state: 'active', created_at: T(3), prefix: '2001:db8:1::/56' }),
    lifecycleRow({ id: 'v4-or-legacy', subscriber_id: 's2', state: 'revoked', created_at: T(3) }),
    lifecycleRow({ id: UUID(3), subscriber_id: 's2', state: 'revoked', created_at: T(2) }),
    // Two live lifecycles on one prefix: live_prefixes counted it shared.
    lifecycleRow({ id: UUID(4), subscriber_id: 's3', state: 'pending', pool: 'business', created_at: T(2), prefix: '2001:db8:1::/56' }),
  ];
  const insertRow = db.prepare(`INSERT INTO lifecycles (${Object.keys(rows[0]!).join(', ')}) VALUES (${Object.keys(rows[0]!).map((k) => `@${k}`).join(', ')})`);
  const insertAudit = db.prepare(
    'INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) VALUES (@lifecycle_id, @subscriber_id, @at, @type, @from_state, @to_state, @detail)',
  );
  for (const r of rows) {
    insertRow.run(r);
    insertAudit.run(auditEntry(r, 'CREATED', null, { state: 'pending' }));
  }
  // An unknown word, a time that is not toISOString() text, a compact detail as 012 stored it.
  insertAudit.run({ ...auditEntry(rows[1]!, 'SOMETHING_NEW', 'pending'), at: 'now', to_state: 'active.idle' });
  insertAudit.run({ ...auditEntry(rows[0]!, 'REVOKE', 'active'), detail: '["",0,-1,{"G":"x"}]' });
  // Entries pruned at the end of the trail left their numbers used.
  db.prepare("UPDATE sqlite_sequence SET seq = 50 WHERE name = 'audit'").run();
}

const q = {
  audit: (db: Db) => db.prepare('SELECT * FROM audit ORDER BY seq').all(),
  byCreation: (db: Db) => (db.prepare('SELECT id FROM lifecycles ORDER BY created_at DESC, id DESC').all() as { id: string }[]).map((r) => r.id),
  latest: (db: Db, s: string) => (db.prepare('SELECT id FROM lifecycles WHERE subscriber_id = ? ORDER BY created_at DESC, id DESC LIMIT 1').get(s) as { id: string }).id,
};

test('a database at 012 → migrated: the same entries and answers, the entries stored encoded, the sequence going on, shared prefixes still known', () => {
  const file = join(dir, 'db.sqlite');
  const old = at012(file);
  seed(old);
  const audit = q.audit(old);
  const order = q.byCreation(old);
  const latest = ['s1', 's2', 's3'].map((s) => q.latest(old, s));
  old.close();

  const db = openDatabase(file);
  // Every later migration ran too (the last number, whatever it is now).
  assert.is(db.pragma('user_version', { simple: true }), Number(readdirSync(migrationsDir).filter((f) => /^\d{3}-.+\.sql$/.test(f)).sort().at(-1)!.slice(0, 3)));
  assert.equal(q.audit(db), audit, 'the view reads every entry back as the text it was');
  const store = createLifecycleStore(db);
  assert.equal(store.list({ limit: 10, order: 'desc' }).map((r) => r.id), order);
  assert.equal(store.list({ limit: 2, order: 'desc', after: store.get(order[1]!)! }).map((r) => r.id), order.slice(2, 4));
  assert.equal(['s1', 's2', 's3'].map((s) => store.latest(s)?.id), latest);
  assert.equal(store.events('s1'), (audit as (AuditEntry & { seq: number })[]).filter((e) => e.subscriber_id === 's1').map(({ seq: _, ...e }) => ({ ...e, detail: e.detail === null ? null : e.detail.startsWith('[') ? '{"state":"revoked","reason":"x"}' : e.detail })) as never);

  const stored = db.prepare('SELECT seq, typeof(lifecycle_id) AS id, typeof(at) AS at, typeof(type) AS type, typeof(to_state) AS to_state FROM audit_log ORDER BY seq').all();
  assert.equal(stored[0], { seq: 1, id: 'blob', at: 'integer', type: 'integer', to_state: 'integer' });
  assert.equal(stored[2], { seq: 3, id: 'text', at: 'integer', type: 'integer', to_state: 'integer' }, 'an id that is not a UUID stays text');
  assert.equal(stored[5], { seq: 6, id: 'blob', at: 'text', type: 'text', to_state: 'text' }, "what would not read back the same stays text ('now', a new word, a nested state)");

  const counts = createMetricCounts(db);
  assert.equal(store.sharedPrefixes(), [{ prefix: '2001:db8:1::/56', lifecycle_ids: [UUID(2), UUID(4)] }], 'the shared prefix is still known');
  assert.is(counts.shared(), 1);
  const row = store.get(UUID(4))!;
  store.save({ ...row, state: 'revoked' }, auditEntry(row, 'REVOKE', 'pending'));
  assert.equal(store.sharedPrefixes(), []);
  assert.is(counts.shared(), 0);
  assert.is((db.prepare('SELECT max(seq) AS s FROM audit').get() as { s: number }).s, 51, 'no seq used before is given again');
  db.close();
});

test('a database at 012 with a row of a state the machine does not have → the migration stops, nothing changed', () => {
  const file = join(dir, 'db.sqlite');
  const old = at012(file);
  old.prepare(`INSERT INTO lifecycles (id, subscriber_id, state, pool, prefix_length, created_at, updated_at, snapshot) VALUES ('x', 's', 'limbo', 'p', 56, 'now', 'now', '{}')`).run();
  old.close();
  assert.throws(() => openDatabase(file), /CHECK/);
  const raw = new Database(file);
  assert.is(raw.pragma('user_version', { simple: true }), 12);
  assert.ok(raw.prepare("SELECT 1 FROM sqlite_master WHERE name = 'lifecycles_created'").get(), 'the index the lists needed is still there');
  raw.close();
});

test('after 013 → a row of a state the machine does not have is refused (the unfiltered list reads per state)', () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const row = lifecycleRow({ id: 'a' });
  store.save(row, null);
  assert.throws(() => store.save(lifecycleRow({ id: 'b', state: 'limbo' }), null), /not a lifecycle state/);
  assert.throws(() => store.save({ ...row, state: 'limbo' }, null), /not a lifecycle state/);
  assert.is(store.get('a')?.state, row.state);
  db.close();
});

test("the database's list of states is the machine's: the unfiltered list has one leg per state", () => {
  const db = openDatabase(':memory:');
  const triggers = db.prepare<[], { sql: string }>("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'lifecycles_known_state_%'").all();
  assert.is(triggers.length, 2);
  for (const { sql } of triggers) {
    const listed = [...sql.match(/NOT IN \(([^)]*)\)/)![1]!.matchAll(/'([a-z]+)'/g)].map((m) => m[1]);
    assert.equal(listed, [...LIFECYCLE_STATES], sql);
  }
  assert.is(listSql({}).split(' UNION ALL ').length, LIFECYCLE_STATES.length);
  db.close();
});

test("the store's own writes and a plain INSERT INTO audit store the same bytes but the id's; both stay append-only", () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const row = lifecycleRow({ id: UUID(9), state: 'revoked' });
  const entry: AuditEntry = { ...auditEntry(row, 'REVOKE', 'active', { state: 'revoked' }), at: '2026-03-04T05:06:07.089Z' };
  store.save(row, entry);
  db.prepare('INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) VALUES (@lifecycle_id, @subscriber_id, @at, @type, @from_state, @to_state, @detail)').run({
    ...entry,
    detail: db.prepare<[], { detail: string }>('SELECT detail FROM audit_log').get()!.detail,
  });
  const bytes = db.prepare('SELECT typeof(lifecycle_id) AS id, quote(subscriber_id) || quote(at) || quote(type) || quote(from_state) || quote(to_state) || quote(detail) AS b FROM audit_log ORDER BY seq').all() as { id: string; b: string }[];
  assert.is(bytes.length, 2);
  assert.is(bytes[0]!.b, bytes[1]!.b);
  // Through the view an id stays text: its trigger needs no function an older sqlite3 shell lacks.
  assert.equal(bytes.map((r) => r.id), ['blob', 'text']);
  assert.equal(store.events(row.subscriber_id), [entry, entry]);
  for (const sql of ["UPDATE audit SET type = 'FORGED'", "UPDATE audit_log SET type = 'FORGED'", 'DELETE FROM audit', 'DELETE FROM audit_log', "UPDATE audit_words SET word = 'x'", 'DELETE FROM audit_words']) {
    assert.throws(() => db.prepare(sql).run(), /append-only/, sql);
  }
  // Pruning goes on deleting what migration 010 allows: old entries of revoked lifecycles.
  return createAuditRetention(db)
    .prune({ before: '2026-03-04T05:06:07.090Z' })
    .then((n) => {
      assert.is(n, 2);
      assert.equal(store.events(row.subscriber_id), []);
      db.close();
    });
});

test.run();
