import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, listSql, type LifecycleStore } from '../../store/lifecycles.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('store lifecycles');
let db: Db;
let store: LifecycleStore;
test.before.each(() => {
  db = openDatabase(':memory:');
  store = createLifecycleStore(db);
});
test.after.each(() => {
  db.close();
});

const auditCount = () => (db.prepare('SELECT count(*) AS n FROM audit').get() as { n: number }).n;
const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

test('save(row, audit) → the row and its audit entry; save(row, null) writes no audit entry', () => {
  const row = lifecycleRow({ id: 'a' });
  store.save(row, auditEntry(row, 'CREATED'));
  assert.equal(store.get('a'), row);
  assert.equal(store.events(row.subscriber_id), [auditEntry(row, 'CREATED')]);
  store.save({ ...row, username: 'u@isp' }, null);
  assert.is(store.get('a')?.username, 'u@isp');
  assert.is(auditCount(), 1);
});

test('save(row) again → updates every column in place but the subscriber and the creation time', () => {
  const row = lifecycleRow({ id: 'a', subscriber_id: 'sub-1', busy: 1 });
  store.save(row, null);
  const at = '2026-02-01T00:00:00.000Z';
  const next = lifecycleRow(
    {
      id: 'a',
      subscriber_id: 'sub-2',
      state: 'suspended',
      busy: 0,
      pool: 'business',
      prefix: '2001:db8:1000::/48',
      prefix_length: 48,
      netbox_prefix_id: 12,
      username: 'u@isp',
      cpe_id: 'cpe-1',
      allocated_at: at,
      activated_at: at,
      suspended_at: at,
      revoked_at: at,
      created_at: '2030-01-01T00:00:00.000Z',
      updated_at: at,
      next_pending_at: at,
    },
    { changed: true },
  );
  store.save(next, null);
  assert.equal(store.get('a'), { ...next, subscriber_id: 'sub-1', created_at: row.created_at });
  assert.is((db.prepare('SELECT count(*) AS n FROM lifecycles').get() as { n: number }).n, 1);
});

test('saveBatch(items) → every row and audit entry, in order: the last snapshot of a lifecycle wins', () => {
  const a1 = lifecycleRow({ id: 'a', state: 'pending' });
  const a2 = { ...a1, state: 'allocated' };
  const b = lifecycleRow({ id: 'b' });
  store.saveBatch([
    { row: a1, audit: auditEntry(a1, 'CREATED') },
    { row: b, audit: auditEntry(b, 'CREATED') },
    { row: a2, audit: auditEntry(a2, 'STEP_DONE', 'pending') },
  ]);
  assert.is(store.get('a')?.state, 'allocated');
  assert.ok(store.get('b'));
  assert.equal(store.events(a1.subscriber_id).map((e) => e.type), ['CREATED', 'STEP_DONE']);
});

test('saveBatch(items) → all or none: one row the schema refuses stores nothing of the batch', () => {
  const kept = lifecycleRow({ id: 'kept' });
  store.save(kept, auditEntry(kept, 'CREATED'));
  const a = lifecycleRow({ id: 'a', subscriber_id: 'twice' });
  const b = lifecycleRow({ id: 'b', subscriber_id: 'other' });
  // A second live lifecycle of one subscriber breaks the unique index on live subscribers.
  const clash = lifecycleRow({ id: 'c', subscriber_id: 'twice' });
  assert.throws(() => store.saveBatch([a, b, clash].map((row) => ({ row, audit: auditEntry(row, 'CREATED') }))), /UNIQUE/);
  assert.equal([store.get('a'), store.get('b'), store.get('c')], [undefined, undefined, undefined]);
  assert.equal(store.events('twice'), []);
  assert.is(auditCount(), 1);
  assert.equal(store.get('kept'), kept);
});

test('writeBatch(items) → the writes of saveBatch inside the caller\'s transaction, which a throw rolls back; refused outside one', () => {
  const a = lifecycleRow({ id: 'a', subscriber_id: 'twice' });
  const clash = lifecycleRow({ id: 'c', subscriber_id: 'twice' });
  assert.throws(() => store.writeBatch([{ row: a, audit: auditEntry(a, 'CREATED') }]), /outside a transaction/);
  assert.is(store.get('a'), undefined, 'nothing written in autocommit');
  store.transaction(() => store.writeBatch([{ row: a, audit: auditEntry(a, 'CREATED') }, { row: a, audit: auditEntry(a, 'STEP_DONE', 'pending'), rowStored: true }]));
  assert.equal(store.events('twice').map((e) => e.type), ['CREATED', 'STEP_DONE']);
  // No savepoint of its own: what it wrote before the throw goes with the caller's.
  const b = lifecycleRow({ id: 'b', subscriber_id: 'other' });
  assert.throws(() => store.transaction(() => store.writeBatch([b, clash].map((row) => ({ row, audit: auditEntry(row, 'CREATED') })))), /UNIQUE/);
  assert.equal([store.get('b'), store.get('c')], [undefined, undefined]);
  assert.is(auditCount(), 2);
});

test('live(subscriber) → the lifecycle that is not revoked; undefined when every one is', () => {
  store.save(lifecycleRow({ id: 'old', subscriber_id: 's', state: 'revoked' }), null);
  assert.is(store.live('s'), undefined);
  store.save(lifecycleRow({ id: 'new', subscriber_id: 's', state: 'suspended' }), null);
  assert.is(store.live('s')?.id, 'new');
  assert.is(store.live('nobody'), undefined);
});

test('latest(subscriber) → the newest lifecycle, live or not; on equal creation times the greater id', () => {
  store.save(lifecycleRow({ id: 'b', subscriber_id: 's', state: 'revoked', created_at: '2026-03-01T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'c', subscriber_id: 's', state: 'revoked', created_at: '2026-01-01T00:00:00.000Z' }), null);
  assert.is(store.latest('s')?.id, 'b');
  store.save(lifecycleRow({ id: 'a', subscriber_id: 's', state: 'revoked', created_at: '2026-03-01T00:00:00.000Z' }), null);
  assert.is(store.latest('s')?.id, 'b');
  store.save(lifecycleRow({ id: 'd', subscriber_id: 's', state: 'revoked', created_at: '2026-03-01T00:00:00.000Z' }), null);
  assert.is(store.latest('s')?.id, 'd');
  assert.is(store.latest('nobody'), undefined);
});

test('list(query) → pages in (created_at, id) order after the cursor, either way, filtered by state and by pool', () => {
  const at = (m: number) => `2026-01-01T00:0${m}:00.000Z`;
  // Ids that do not sort by creation (stored v4 ones), and two rows created in the same millisecond.
  const rows = [
    lifecycleRow({ id: 'e', state: 'active', pool: 'business', created_at: at(1) }),
    lifecycleRow({ id: 'a', state: 'active', created_at: at(5) }),
    lifecycleRow({ id: 'd', state: 'active', created_at: at(2) }),
    lifecycleRow({ id: 'b', state: 'revoked', created_at: at(3) }),
    lifecycleRow({ id: 'c', state: 'active', created_at: at(3) }),
  ];
  for (const row of rows) store.save(row, null);
  const after = (id: string) => store.get(id)!;
  assert.equal(ids(store.list({ limit: 10 })), ['e', 'd', 'b', 'c', 'a']);
  assert.equal(ids(store.list({ limit: 10, order: 'desc' })), ['a', 'c', 'b', 'd', 'e']);
  assert.equal(ids(store.list({ limit: 2 })), ['e', 'd']);
  assert.equal(ids(store.list({ limit: 2, after: after('d') })), ['b', 'c']);
  assert.equal(ids(store.list({ limit: 2, after: after('c') })), ['a']);
  assert.equal(ids(store.list({ limit: 2, order: 'desc', after: after('c') })), ['b', 'd']);
  assert.equal(ids(store.list({ limit: 10, state: 'active' })), ['e', 'd', 'c', 'a']);
  assert.equal(ids(store.list({ limit: 10, pool: 'business' })), ['e']);
  assert.equal(ids(store.list({ limit: 10, state: 'active', pool: 'residential', after: after('d') })), ['c', 'a']);
  assert.equal(ids(store.list({ limit: 10, state: 'active', pool: 'residential', order: 'desc', after: after('a') })), ['c', 'd']);
  assert.equal(ids(store.list({ limit: 10, state: 'failed' })), []);
});

test('list(query) → every filter and order is served by an index, without sorting', () => {
  const cursor = { created_at: '2026-01-01T00:00:00.000Z', id: 'x' };
  for (const order of ['asc', 'desc'] as const) {
    for (const filter of [{}, { state: 'active' }, { pool: 'residential' }]) {
      for (const after of [undefined, cursor]) {
        const sql = listSql({ ...filter, order, after });
        const args = { ...filter, ...(after ? { created_at: after.created_at, id: after.id } : {}), limit: 10 };
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(args) as { detail: string }[]).map((r) => r.detail).join('; ');
        assert.match(plan, /USING (COVERING )?INDEX lifecycles_(created|state|pool)\b/, `${sql}: ${plan}`);
        assert.not.match(plan, /TEMP B-TREE/, `${sql}: ${plan}`);
      }
    }
  }
});

test('list(query) → paging while lifecycles are created returns each earlier one exactly once, in order', () => {
  let clock = Date.parse('2026-01-01T00:00:00.000Z');
  // Several per millisecond, ids in no particular order: (created_at, id) breaks the ties.
  const add = (n: number) => {
    for (let i = 0; i < n; i++) {
      const id = Math.random().toString(16).slice(2);
      store.save(lifecycleRow({ id, created_at: new Date(clock).toISOString() }), null);
      if (i % 3 === 2) clock++;
    }
  };
  add(20);
  const before = ids(store.list({ limit: 100 }));
  for (const order of ['asc', 'desc'] as const) {
    const seen: string[] = [];
    let after: { created_at: string; id: string } | undefined;
    for (;;) {
      const page = store.list({ limit: 3, order, after });
      seen.push(...ids(page));
      if (page.length < 3) break;
      after = page.at(-1);
      add(2); // newer than everything seen: after the end (asc) or before the start (desc)
    }
    const original = seen.filter((id) => before.includes(id));
    assert.equal(original, order === 'asc' ? before : [...before].reverse());
    assert.is(new Set(seen).size, seen.length, 'no lifecycle twice');
  }
});

test('busy() → the ids of lifecycles with a step in flight', () => {
  store.save(lifecycleRow({ id: 'a', busy: 1 }), null);
  store.save(lifecycleRow({ id: 'b', busy: 0 }), null);
  store.save(lifecycleRow({ id: 'c', busy: 1 }), null);
  assert.equal(store.busy().sort(), ['a', 'c']);
});

test('duePending(now, limit) → lifecycles whose pending work is due, soonest first, at most limit', () => {
  store.save(lifecycleRow({ id: 'a', next_pending_at: '2026-01-03T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'b', next_pending_at: '2026-01-01T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'c', next_pending_at: '2026-01-09T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'd', next_pending_at: null }), null);
  store.save(lifecycleRow({ id: 'e', next_pending_at: '2026-01-02T00:00:00.000Z' }), null);
  assert.equal(store.duePending('2026-01-05T00:00:00.000Z', 10), [
    { id: 'b', subscriber_id: 'sub-b', next_pending_at: '2026-01-01T00:00:00.000Z' },
    { id: 'e', subscriber_id: 'sub-e', next_pending_at: '2026-01-02T00:00:00.000Z' },
    { id: 'a', subscriber_id: 'sub-a', next_pending_at: '2026-01-03T00:00:00.000Z' },
  ]);
  assert.equal(ids(store.duePending('2026-01-05T00:00:00.000Z', 2)), ['b', 'e']);
  assert.equal(ids(store.duePending('2026-01-03T00:00:00.000Z', 10)), ['b', 'e', 'a'], 'due at exactly now');
  assert.equal(store.duePending('2025-12-31T00:00:00.000Z', 10), []);
});

test('newerOnCpe(cpe, lifecycle) → a live lifecycle created since that has the CPE; revoked and older ones do not count', () => {
  const old = lifecycleRow({ id: 'old', state: 'revoked', cpe_id: 'CPE-1', created_at: '2026-01-01T00:00:00.000Z' });
  store.save(old, null);
  assert.is(store.newerOnCpe('CPE-1', old), null);
  store.save(lifecycleRow({ id: 'gone', state: 'revoked', cpe_id: 'CPE-1', created_at: '2026-01-02T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'before', state: 'active', cpe_id: 'CPE-1', created_at: '2025-12-01T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'other-cpe', state: 'active', cpe_id: 'CPE-2', created_at: '2026-01-03T00:00:00.000Z' }), null);
  assert.is(store.newerOnCpe('CPE-1', old), null);
  store.save(lifecycleRow({ id: 'next', state: 'active', cpe_id: 'CPE-1', created_at: '2026-01-04T00:00:00.000Z' }), null);
  assert.is(store.newerOnCpe('CPE-1', old), 'next');
});

test('countByState() and countPending() → lifecycles per state, and those with pending work', () => {
  store.save(lifecycleRow({ id: 'a', state: 'active', next_pending_at: '2026-01-01T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'b', state: 'active' }), null);
  store.save(lifecycleRow({ id: 'c', state: 'revoked', next_pending_at: '2026-01-01T00:00:00.000Z' }), null);
  store.save(lifecycleRow({ id: 'd', state: 'failed' }), null);
  store.save(lifecycleRow({ id: 'e', state: 'failed' }), null);
  assert.equal(store.countByState(), { active: 2, revoked: 1, failed: 2 });
  assert.is(store.countPending(), 2);
});

test('sharedPrefixes() → prefixes more than one live lifecycle shows; revoked ones and no prefix do not count', () => {
  store.save(lifecycleRow({ id: 'a', prefix: '2001:db8::/56' }), null);
  store.save(lifecycleRow({ id: 'b', prefix: '2001:db8::/56', state: 'active' }), null);
  store.save(lifecycleRow({ id: 'c', prefix: '2001:db8:0:100::/56' }), null);
  store.save(lifecycleRow({ id: 'd', prefix: '2001:db8:0:100::/56', state: 'revoked' }), null);
  store.save(lifecycleRow({ id: 'e', prefix: null }), null);
  store.save(lifecycleRow({ id: 'f', prefix: null }), null);
  const shared = store.sharedPrefixes().map((s) => ({ ...s, lifecycle_ids: s.lifecycle_ids.sort() }));
  assert.equal(shared, [{ prefix: '2001:db8::/56', lifecycle_ids: ['a', 'b'] }]);
});

test('events(subscriber) → the audit trail of every lifecycle of the subscriber in the order written, not by time', () => {
  const first = lifecycleRow({ id: 'a', subscriber_id: 's', state: 'revoked' });
  const second = lifecycleRow({ id: 'b', subscriber_id: 's' });
  const other = lifecycleRow({ id: 'c', subscriber_id: 'other' });
  store.save(first, { ...auditEntry(first, 'CREATED'), at: '2026-01-05T00:00:00.000Z' });
  store.save(other, auditEntry(other, 'CREATED'));
  store.save(first, { ...auditEntry(first, 'REVOKE', 'allocated', { reason: 'x' }), at: '2026-01-01T00:00:00.000Z' });
  store.save(second, auditEntry(second, 'CREATED'));
  const events = store.events('s');
  assert.equal(events.map((e) => `${e.lifecycle_id} ${e.type}`), ['a CREATED', 'a REVOKE', 'b CREATED']);
  assert.equal(events[1], { ...auditEntry(first, 'REVOKE', 'allocated', { reason: 'x' }), at: '2026-01-01T00:00:00.000Z' });
  assert.equal(store.events('nobody'), []);
});

test.run();
