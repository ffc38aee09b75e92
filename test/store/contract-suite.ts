// The store contract: what every backend of the store port (store/port.ts) must do, run against
// SQLite (test/store/contract-sqlite.test.ts) and PostgreSQL (test/store/contract-postgresql.test.ts).
// Only the port is used, plus `exec` for the statements a backend must refuse.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StorePort } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import { storeIdempotencyContract } from './contract-idempotency.ts';
import { storePartsContract } from './contract-parts.ts';

export interface ContractFixture {
  store: StorePort;
  /** Runs one statement directly (the same text is valid in both dialects). */
  exec(sql: string): Promise<void>;
  /** The same database as a server that takes no writes serves it (SQLite: query_only; PostgreSQL: read-only sessions). */
  readOnly(): Promise<Pick<StorePort, 'probe' | 'reconciliation'>>;
  dispose(): Promise<void>;
}

export interface ContractBackend {
  name: string;
  /** Once before the tests (start a server). */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
  /** A fresh, empty, migrated store for one test. */
  open(): Promise<ContractFixture>;
}

const ids = (rows: { id: string }[]) => rows.map((r) => r.id);

export function runStoreContract(backend: ContractBackend): void {
  const test = suite(`store contract (${backend.name})`);
  let f: ContractFixture;
  let s: StorePort;
  if (backend.setup) test.before(() => backend.setup!());
  if (backend.teardown) test.after(() => backend.teardown!());
  test.before.each(async () => {
    f = await backend.open();
    s = f.store;
  });
  test.after.each(() => f.dispose());

  test('save(row, audit) → get returns the row as saved, events the entry; save(row, null) appends nothing', async () => {
    const row = lifecycleRow({ id: 'a', netbox_prefix_id: 4_000_000_001, prefix: '2001:db8::/56', busy: 1 });
    await s.lifecycles.save(row, auditEntry(row, 'CREATED'));
    assert.equal(await s.lifecycles.get('a'), row);
    await s.lifecycles.save({ ...row, username: 'u@isp' }, null);
    assert.is((await s.lifecycles.get('a'))?.username, 'u@isp');
    assert.equal(await s.lifecycles.events(row.subscriber_id), [auditEntry(row, 'CREATED')]);
    assert.is(await s.lifecycles.get('nope'), undefined);
  });

  test('save again → every column updated but the subscriber and the creation time', async () => {
    const row = lifecycleRow({ id: 'a', subscriber_id: 'sub-1' });
    await s.lifecycles.save(row, null);
    const at = '2026-02-01T00:00:00.000Z';
    const next = lifecycleRow({
      id: 'a', subscriber_id: 'sub-2', state: 'suspended', pool: 'business', prefix: '2001:db8:1000::/48', prefix_length: 48,
      netbox_prefix_id: 12, username: 'u@isp', cpe_id: 'cpe-1', allocated_at: at, activated_at: at, suspended_at: at,
      created_at: '2030-01-01T00:00:00.000Z', updated_at: at, next_pending_at: at,
    });
    await s.lifecycles.save(next, null);
    assert.equal(await s.lifecycles.get('a'), { ...next, subscriber_id: 'sub-1', created_at: row.created_at });
  });

  test('saveBatch → in order, all or none: two snapshots of one lifecycle keep the last; a refused item writes nothing', async () => {
    const a1 = lifecycleRow({ id: 'a', state: 'allocated' });
    const a2 = { ...a1, state: 'active', updated_at: '2026-01-01T00:00:01.000Z' };
    const b = lifecycleRow({ id: 'b' });
    await s.lifecycles.saveBatch([
      { row: a1, audit: auditEntry(a1, 'CREATED') },
      { row: b, audit: auditEntry(b, 'CREATED') },
      { row: a2, audit: auditEntry(a2, 'ACTIVATED', 'allocated') },
    ]);
    assert.equal(await s.lifecycles.get('a'), a2);
    assert.equal(ids((await s.lifecycles.events('sub-a')).map((e) => ({ id: e.type }))), ['CREATED', 'ACTIVATED']);
    const [seqA, seqB] = [await s.lifecycles.lastSeq('sub-a'), await s.lifecycles.lastSeq('sub-b')];
    assert.ok(seqA > seqB && seqB > 0, `last seqs ${seqA} ${seqB}: in the batch's order`);
    assert.equal((await s.lifecycles.eventsAfter('sub-a', seqB)).map((e) => e.type), ['ACTIVATED']);
    assert.equal(await s.lifecycles.eventsAfter('sub-a', 0), await s.lifecycles.events('sub-a'));
    // A second live lifecycle of subscriber sub-b breaks the one-live-lifecycle rule: the batch goes whole.
    const c = lifecycleRow({ id: 'c' });
    const twin = lifecycleRow({ id: 'b2', subscriber_id: 'sub-b' });
    let refused = false;
    await s.lifecycles
      .saveBatch([{ row: c, audit: auditEntry(c, 'CREATED') }, { row: twin, audit: auditEntry(twin, 'CREATED') }])
      .catch(() => (refused = true));
    assert.ok(refused);
    assert.is(await s.lifecycles.get('c'), undefined);
    assert.equal(await s.lifecycles.events('sub-c'), []);
    assert.equal([await s.lifecycles.lastSeq('sub-c'), await s.lifecycles.lastSeq('sub-b')], [0, seqB], 'the refused batch wrote nothing');
    assert.equal(await s.lifecycles.countByState(), { active: 1, allocated: 1 });
  });

  test('live and latest → the live lifecycle (none once revoked) and the newest, live or not', async () => {
    const old = lifecycleRow({ id: 'old', subscriber_id: 's', state: 'revoked', revoked_at: '2026-01-02T00:00:00.000Z' });
    const cur = lifecycleRow({ id: 'cur', subscriber_id: 's', created_at: '2026-01-03T00:00:00.000Z' });
    await s.lifecycles.save(old, null);
    assert.is(await s.lifecycles.live('s'), undefined);
    assert.is((await s.lifecycles.latest('s'))?.id, 'old');
    await s.lifecycles.save(cur, null);
    assert.is((await s.lifecycles.live('s'))?.id, 'cur');
    assert.is((await s.lifecycles.latest('s'))?.id, 'cur');
  });

  test('list → pages in (created_at, id) byte order both ways, filtered by state and pool, stable past a cursor', async () => {
    // Ids that a linguistic collation would order otherwise ('-' and case): the order is bytes.
    const same = '2026-01-01T00:00:00.000Z';
    const rows = [
      lifecycleRow({ id: 'ab', created_at: same }),
      lifecycleRow({ id: 'a-b', created_at: same, pool: 'business' }),
      lifecycleRow({ id: 'aB', created_at: same, state: 'active' }),
      lifecycleRow({ id: 'Z', created_at: '2026-01-02T00:00:00.000Z' }),
      lifecycleRow({ id: '0', created_at: '2025-12-31T00:00:00.000Z', state: 'active' }),
    ];
    for (const r of rows) await s.lifecycles.save(r, null);
    const asc = ['0', 'a-b', 'aB', 'ab', 'Z'];
    assert.equal(ids(await s.lifecycles.list({ limit: 10 })), asc);
    assert.equal(ids(await s.lifecycles.list({ limit: 10, order: 'desc' })), [...asc].reverse());
    const first = await s.lifecycles.list({ limit: 2 });
    assert.equal(ids(first), ['0', 'a-b']);
    await s.lifecycles.save(lifecycleRow({ id: 'new', created_at: '2027-01-01T00:00:00.000Z' }), null);
    assert.equal(ids(await s.lifecycles.list({ limit: 2, after: first.at(-1)! })), ['aB', 'ab']);
    assert.equal(ids(await s.lifecycles.list({ limit: 2, order: 'desc', after: { created_at: same, id: 'ab' } })), ['aB', 'a-b']);
    assert.equal(ids(await s.lifecycles.list({ limit: 10, state: 'active' })), ['0', 'aB']);
    assert.equal(ids(await s.lifecycles.list({ limit: 10, pool: 'business' })), ['a-b']);
    assert.equal(ids(await s.lifecycles.list({ limit: 10, state: 'active', pool: 'business' })), []);
    // A pool alone is read one leg per state, merged (migrations 014 / 007): every state, one order, one limit.
    assert.equal(ids(await s.lifecycles.list({ limit: 10, pool: 'residential' })), ['0', 'aB', 'ab', 'Z', 'new']);
    assert.equal(ids(await s.lifecycles.list({ limit: 2, pool: 'residential' })), ['0', 'aB']);
    assert.equal(ids(await s.lifecycles.list({ limit: 2, pool: 'residential', order: 'desc', after: { created_at: same, id: 'ab' } })), ['aB', '0']);
    assert.equal(ids(await s.lifecycles.list({ limit: 10, state: 'active', pool: 'residential', order: 'desc' })), ['aB', '0']);
    // So the database refuses a state the legs would not read.
    let refused = false;
    await f.exec("UPDATE lifecycles SET state = 'paused' WHERE id = 'Z'").catch(() => (refused = true));
    assert.ok(refused, 'a state that is not a lifecycle state');
  });

  test('busy, duePending, newerOnCpe → the runtime\'s queries', async () => {
    await s.lifecycles.save(lifecycleRow({ id: 'b', busy: 1 }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'p1', next_pending_at: '2026-01-01T00:00:02.000Z' }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'p0', next_pending_at: '2026-01-01T00:00:01.000Z' }), null);
    await s.lifecycles.save(lifecycleRow({ id: 'later', next_pending_at: '2026-06-01T00:00:00.000Z' }), null);
    assert.equal(await s.lifecycles.busy(), ['b']);
    assert.equal(await s.lifecycles.duePending('2026-01-01T00:00:05.000Z', 10), [
      { id: 'p0', subscriber_id: 'sub-p0', next_pending_at: '2026-01-01T00:00:01.000Z' },
      { id: 'p1', subscriber_id: 'sub-p1', next_pending_at: '2026-01-01T00:00:02.000Z' },
    ]);
    const [first] = await s.lifecycles.duePending('2026-01-01T00:00:05.000Z', 1);
    assert.is(first!.id, 'p0');
    // The next page starts after the cursor: ties of next_pending_at go by id.
    await s.lifecycles.save(lifecycleRow({ id: 'p0b', next_pending_at: '2026-01-01T00:00:01.000Z' }), null);
    assert.equal((await s.lifecycles.duePending('2026-01-01T00:00:05.000Z', 10, first)).map((r) => r.id), ['p0b', 'p1']);
    assert.equal(await s.lifecycles.duePending('2026-01-01T00:00:05.000Z', 10, { id: 'p1', next_pending_at: '2026-01-01T00:00:02.000Z' }), []);
    assert.is(await s.lifecycles.countPending(), 4);
    const gone = lifecycleRow({ id: 'gone', cpe_id: 'cpe', state: 'revoked', created_at: '2026-01-01T00:00:00.000Z' });
    await s.lifecycles.save(gone, null);
    assert.is(await s.lifecycles.newerOnCpe('cpe', gone), null);
    await s.lifecycles.save(lifecycleRow({ id: 'now', cpe_id: 'cpe', created_at: '2026-01-05T00:00:00.000Z' }), null);
    assert.is(await s.lifecycles.newerOnCpe('cpe', gone), 'now');
  });

  test('usernameHolder → another subscriber whose live lifecycle has the username; revoked ones and the asker do not count', async () => {
    await s.lifecycles.save(lifecycleRow({ id: 'u1', subscriber_id: 'sub-1', state: 'active', username: 'shared@isp' }), null);
    assert.is(await s.lifecycles.usernameHolder('shared@isp', 'sub-2'), 'sub-1');
    assert.is(await s.lifecycles.usernameHolder('shared@isp', 'sub-1'), null, 'its own lifecycle');
    assert.is(await s.lifecycles.usernameHolder('other@isp', 'sub-2'), null);
    await s.lifecycles.save(lifecycleRow({ id: 'u1', subscriber_id: 'sub-1', state: 'revoked', username: 'shared@isp' }), null);
    assert.is(await s.lifecycles.usernameHolder('shared@isp', 'sub-2'), null, 'revoked');
    await s.lifecycles.save(lifecycleRow({ id: 'u3', subscriber_id: 'sub-3', state: 'failed', username: 'shared@isp' }), null);
    assert.is(await s.lifecycles.usernameHolder('shared@isp', 'sub-2'), 'sub-3', 'a failed lifecycle still holds it (its retry writes it)');
  });

  test('prefixHolder → another live lifecycle showing the prefix; revoked ones and the asker do not count', async () => {
    await s.lifecycles.save(lifecycleRow({ id: 'p1', subscriber_id: 'sub-1', state: 'active', prefix: '2001:db8:100::/56' }), null);
    assert.equal(await s.lifecycles.prefixHolder('2001:db8:100::/56', 'p2'), { id: 'p1', subscriber_id: 'sub-1', state: 'active' });
    assert.is(await s.lifecycles.prefixHolder('2001:db8:100::/56', 'p1'), null, 'its own lifecycle');
    assert.is(await s.lifecycles.prefixHolder('2001:db8:200::/56', 'p2'), null);
    await s.lifecycles.save(lifecycleRow({ id: 'p1', subscriber_id: 'sub-1', state: 'revoked', prefix: '2001:db8:100::/56' }), null);
    assert.is(await s.lifecycles.prefixHolder('2001:db8:100::/56', 'p2'), null, 'revoked');
    await s.lifecycles.save(lifecycleRow({ id: 'p3', subscriber_id: 'sub-3', state: 'failed', prefix: '2001:db8:100::/56' }), null);
    assert.equal(await s.lifecycles.prefixHolder('2001:db8:100::/56', 'p2'), { id: 'p3', subscriber_id: 'sub-3', state: 'failed' }, 'a failed lifecycle still holds it');
  });

  test('usernameHolder folded → ASCII case and trailing spaces compared away, as MySQL\'s collation does; exactly otherwise', async () => {
    await s.lifecycles.save(lifecycleRow({ id: 'f1', subscriber_id: 'sub-1', state: 'suspended', username: 'Alice@ISP' }), null);
    for (const spelling of ['alice@isp', 'ALICE@isp  ', 'Alice@ISP']) assert.is(await s.lifecycles.usernameHolder(spelling, 'sub-2', true), 'sub-1', spelling);
    assert.is(await s.lifecycles.usernameHolder('alice@isp', 'sub-2'), null, 'exact without folding');
    assert.is(await s.lifecycles.usernameHolder(' alice@isp', 'sub-2', true), null, 'a leading space is another user');
    assert.is(await s.lifecycles.usernameHolder('alice@isp', 'sub-1', true), null, 'its own lifecycle');
  });

  test('kept counts → by state, pending, shared prefixes and pool flows follow every write and delete', async () => {
    const at = '2026-03-01T10:15:00.000Z';
    const a = lifecycleRow({ id: 'a', prefix: '2001:db8::/56', allocated_at: at });
    const b = lifecycleRow({ id: 'b', prefix: '2001:db8::/56', allocated_at: at, next_pending_at: at });
    await s.lifecycles.saveBatch([{ row: a, audit: auditEntry(a, 'CREATED') }, { row: b, audit: auditEntry(b, 'CREATED') }]);
    assert.equal(await s.lifecycles.countByState(), { allocated: 2 });
    assert.equal(await s.lifecycles.sharedPrefixes(), [{ prefix: '2001:db8::/56', lifecycle_ids: ['a', 'b'] }]);
    assert.is(await s.counts.shared(), 1);
    assert.is(await s.counts.pending(), 1);
    const revoked = { ...b, state: 'revoked', revoked_at: '2026-03-01T11:00:00.000Z', next_pending_at: null };
    await s.lifecycles.save(revoked, auditEntry(revoked, 'REVOKED', 'allocated'));
    assert.equal(await s.lifecycles.sharedPrefixes(), []);
    assert.is(await s.counts.shared(), 0);
    assert.is(await s.counts.pending(), 0);
    const byState = await s.counts.byState();
    assert.equal([byState.allocated, byState.revoked, byState.active], [1, 1, 0]);
    const flows = (await s.counts.flows('2026-03-01T00')).map((f) => ({ ...f }));
    assert.equal(flows, [{ pool: 'residential', prefix_length: 56, allocated: 2, revoked: 1, since: '2026-03-01T10' }]);
    // Retention deletes the revoked one once past the cut-off; its count goes with it.
    assert.equal(ids(await s.retention.expired('2026-04-01T00:00:00.000Z', 10)), ['b']);
    assert.equal(await s.retention.expired('2026-03-01T00:00:00.000Z', 10), []);
    assert.is(await s.retention.remove(['b', 'a'], '2026-04-01T00:00:00.000Z'), 1);
    assert.equal(await s.lifecycles.countByState(), { allocated: 1 });
    assert.is((await s.lifecycles.events('sub-b')).length, 2, 'the trail outlives its lifecycle');
  });

  test('pool flows → a new hour prunes the hours older than 8 days before it, or before the clock when that is earlier', async () => {
    const allocated = async (id: string, at: string) => s.lifecycles.save(lifecycleRow({ id, prefix: `2001:db8:${id}::/56`, allocated_at: at }), null);
    await allocated('a', '2026-03-01T10:15:00.000Z');
    await allocated('b', '2026-03-08T09:00:00.000Z');
    assert.equal((await s.counts.flows('2026-01-01T00')).map((f) => f.allocated), [2]);
    await allocated('c', '2026-03-09T11:00:00.000Z');
    assert.equal((await s.counts.flows('2026-01-01T00')).map((f) => ({ ...f })), [
      { pool: 'residential', prefix_length: 56, allocated: 2, revoked: 0, since: '2026-03-08T09' },
    ]);
    // A time ahead of the clock (a skewed instance's) leaves the window the forecast reads as it was.
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await allocated('d', hourAgo);
    await allocated('e', '2099-01-01T00:00:00.000Z');
    const week = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 13);
    assert.equal((await s.counts.flows(week)).map((f) => [f.allocated, f.since]), [[2, hourAgo.slice(0, 13)]]);
  });

  test('leak records → counted once, uncounted ones replaced by each check', async () => {
    const rec = { lifecycle_id: 'a', prefix: 'p', pool: 'residential', first_seen_at: 't0', counted_at: null };
    await s.counts.replaceUncounted([rec, { ...rec, lifecycle_id: 'b' }]);
    assert.is(await s.counts.leaksCounted(), 0);
    await s.counts.replaceUncounted([{ ...rec, counted_at: 't1' }]);
    assert.equal(await s.counts.leak('a', 'p'), { ...rec, counted_at: 't1' });
    assert.is(await s.counts.leak('b', 'p'), undefined);
    await s.counts.replaceUncounted([{ ...rec, counted_at: 't2' }]);
    await s.counts.replaceUncounted([]);
    assert.is(await s.counts.leaksCounted(), 1);
    assert.is((await s.counts.leak('a', 'p'))?.counted_at, 't1');
  });

  test('holder and heldPage → the leak check\'s walk, without snapshots', async () => {
    for (const id of ['h1', 'h2', 'h3']) await s.lifecycles.save(lifecycleRow({ id, state: 'active', prefix: `2001:db8:${id.slice(1)}::/56`, username: id === 'h2' ? 'u2' : null }), null);
    assert.equal(await s.lifecycles.holder('h1'), { id: 'h1', subscriber_id: 'sub-h1', state: 'active', busy: 0, pool: 'residential', prefix: '2001:db8:1::/56', username: null });
    const first = await s.lifecycles.heldPage('active', 2);
    assert.equal(ids(first), ['h1', 'h2']);
    assert.is(first[1]!.username, 'u2');
    assert.equal(ids(await s.lifecycles.heldPage('active', 2, first[1])), ['h3']);
  });

  test('audit → append-only: no update, no delete, no entry of an unknown lifecycle', async () => {
    const row = lifecycleRow({ id: 'a' });
    await s.lifecycles.save(row, auditEntry(row, 'CREATED'));
    for (const sql of ["UPDATE audit SET type = 'FORGED'", 'DELETE FROM audit']) {
      let refused: unknown = null;
      await f.exec(sql).catch((e: unknown) => (refused = e));
      assert.match(String(refused), /append-only/, sql);
    }
    let unknown: unknown = null;
    await s.lifecycles.save(row, auditEntry(lifecycleRow({ id: 'ghost' }), 'CREATED')).catch((e: unknown) => (unknown = e));
    assert.match(String(unknown), /unknown lifecycle/);
    assert.equal(await s.lifecycles.events('sub-a'), [auditEntry(row, 'CREATED')]);
  });

  storeIdempotencyContract(test, () => ({ s }));

  storePartsContract(test, () => ({ f, s }));

  test.run();
}
