// Review18 (issue 10): the leak check read every failed lifecycle that shows a prefix, snapshots
// included, in one statement and one turn of the loop (100,000 on the 1M field: 1,040 ms in one
// piece). It now reads FAILED_PAGE at a time on lifecycles_state, a turn between pages: what it finds
// is what the one read found (checked against every row), and each page statement is a seek without a sort.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createLeakCounter, FAILED_PAGE } from '../../runtime/leak-counter.ts';
import { createMetricCounts, type LeakRecord } from '../../store/counts.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore, type LifecycleRow } from '../../store/lifecycles.ts';
import { asyncOf, type CountsPort } from '../../store/port.ts';
import { createPgMetricCounts, FAILED_PAGE as PG_FAILED_PAGE } from '../../store/postgresql/counts.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { createPgLifecycleStore } from '../../store/postgresql/lifecycles.ts';
import { perTurn } from '../support/event-loop.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres } from '../support/postgres.ts';

const test = suite('review18: the leak check reads the failed lifecycles a page at a time');
const N = 3 * FAILED_PAGE + 11;

/** Row i: failed in a revocation with a prefix, failed elsewhere, failed without a prefix, or not failed; ties of created_at, ids not in insertion order. */
function field(n: number): LifecycleRow[] {
  return Array.from({ length: n }, (_, i) => {
    const id = `lc-${((i * 7919) % n).toString(36)}-${i}`;
    const kind = i % 5;
    const failed = kind !== 4;
    const prefix = kind === 2 ? null : `2001:db8:${i.toString(16)}::/56`;
    const failedAt = kind === 1 ? 'allocate' : 'revoke_radius';
    const context = failed ? { failedAt, failure: { code: 'X', message: 'm', at: `2026-02-0${1 + (i % 3)}T00:00:00.000Z` } } : {};
    return lifecycleRow({ id, state: failed ? 'failed' : 'active', prefix, created_at: `2026-01-0${1 + (i % 4)}T00:00:00.000Z` }, context);
  });
}

/** What the leak check should store: one uncounted record per failed-in-revocation row with a prefix (threshold not passed). */
const expected = (rows: LifecycleRow[], at: string) =>
  rows
    .filter((r, i) => r.state === 'failed' && r.prefix !== null && i % 5 !== 1)
    .map((r) => ({ lifecycle_id: r.id, prefix: r.prefix!, pool: r.pool, first_seen_at: at, counted_at: null }))
    .sort((a, b) => (a.lifecycle_id < b.lifecycle_id ? -1 : 1));

/** The leak check over `counts`; answers the records it stored, the page sizes read, and the most pages one turn read. */
async function check(counts: CountsPort, now: number) {
  let stored: readonly LeakRecord[] = [];
  const pages: number[] = [];
  const turns = perTurn(() => ({ pages: 0 }));
  const spied: CountsPort = {
    ...counts,
    failedPage: async (limit, after) => {
      turns.now().pages++;
      const page = await counts.failedPage(limit, after);
      pages.push(page.length);
      return page;
    },
    replaceUncounted: async (records) => {
      stored = records;
      await counts.replaceUncounted(records);
    },
  };
  const leaks = createLeakCounter({ counts: spied, store: { get: async () => undefined }, leakAfterS: 3600 * 24 * 365 * 100, now: () => now });
  assert.is(await leaks.record([]), 0);
  turns.stop();
  return { stored: [...stored].sort((a, b) => (a.lifecycle_id < b.lifecycle_id ? -1 : 1)), pages, mostPerTurn: Math.max(...turns.turns.map((t) => t.pages)) };
}

test(`SQLite: ${N} lifecycles, the leak check finds what the one read found, FAILED_PAGE a page, one page a turn; each page statement seeks lifecycles_state`, async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const rows = field(N);
  for (const r of rows) store.save(r, null);
  const now = Date.parse('2026-03-01T00:00:00.000Z');
  const got = await check(asyncOf(createMetricCounts(db)), now);
  assert.equal(got.stored, expected(rows, new Date(now).toISOString()));
  assert.ok(got.pages.every((n) => n <= FAILED_PAGE) && got.pages.length >= 3, got.pages.join(','));
  assert.is(got.mostPerTurn, 1);
  // The statements themselves, by their text as prepared (a wrapped prepare records them).
  const seen: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => (seen.push(sql), prepare(sql));
  createMetricCounts(db);
  const pageSql = seen.filter((s) => /FROM lifecycles WHERE state = 'failed'/.test(s));
  assert.is(pageSql.length, 2, seen.join('\n'));
  for (const sql of pageSql) {
    const lines = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all({ limit: 5, created_at: 'x', id: 'x' }).map((r) => r.detail);
    assert.ok(lines.length === 1 && /^SEARCH lifecycles USING INDEX lifecycles_state \(state=\?/.test(lines[0]!), lines.join(' | '));
  }
});

test(`PostgreSQL: ${N} lifecycles, the same records, FAILED_PAGE a page, one page a turn`, async () => {
  if (!postgresAvailable('PostgreSQL leak check pages')) return;
  const cluster = await startPostgres();
  const pool = createPgPool({ url: await cluster.createDatabase('leak_pages'), max: 2 });
  try {
    await migrate(pool);
    const store = createPgLifecycleStore(pool);
    const rows = field(N);
    for (const r of rows) await store.save(r, null);
    const now = Date.parse('2026-03-01T00:00:00.000Z');
    const got = await check(createPgMetricCounts(pool), now);
    assert.equal(got.stored.map((r) => ({ ...r })), expected(rows, new Date(now).toISOString()));
    assert.ok(got.pages.every((n) => n <= FAILED_PAGE) && got.pages.length >= 3, got.pages.join(','));
    assert.is(got.mostPerTurn, 1);
    await pool.query('ANALYZE lifecycles');
    for (const [sql, args] of [[PG_FAILED_PAGE.first, [5]], [PG_FAILED_PAGE.next, [5, '2026-01-02T00:00:00.000Z', 'x']]] as const) {
      const plan = (await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, [...args])).rows.map((r) => r['QUERY PLAN']).join('\n');
      assert.match(plan, /Index Scan using lifecycles_state/, plan);
      assert.not.match(plan, /\bSort\b|Seq Scan/, plan);
    }
  } finally {
    await pool.end();
    await cluster.stop();
  }
});

test.run();
