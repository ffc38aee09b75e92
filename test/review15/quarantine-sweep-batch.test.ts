// A batch of the sweep (SWEEP_BATCH expired hold-downs, lowest addresses first) is read by an index in
// address order that stops at the batch: sorting every expired row of the pool for each batch made a
// drain quadratic (SQLite: USE TEMP B-TREE FOR ORDER BY; PostgreSQL: a sequential scan of the table for
// the delete). The rows picked, and their order, are those of the sort.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createQuarantine, SORT_AT_MOST } from '../../services/ipam/embedded-quarantine.ts';
import { PG_QUARANTINE } from '../../services/ipam/embedded-pg-quarantine.ts';
import { SWEEP_BATCH } from '../../services/ipam/pool-rules.ts';
import { parsePrefix, formatPrefix } from '../../services/ipv6.ts';
import { openDatabase } from '../../store/db.ts';
import { explained, withMigratedClient } from '../support/pg-migrated.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('review15 quarantine sweep batch');
const EXPIRED = 3 * SORT_AT_MOST;
const blockOf = (i: number) => parsePrefix(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
/** 0..n-1 in an order that is not address order (the order hold-downs end in). */
const shuffled = (n: number) => [...Array(n).keys()].sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n));

test('SQLite: with many expired, a batch walks the primary key, no sort, and takes the lowest addresses in order', () => {
  const db = openDatabase(':memory:');
  const ran: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    const st = prepare(sql);
    const all = st.all.bind(st);
    const iterate = st.iterate.bind(st);
    (st as { all: unknown }).all = (...args: unknown[]) => (ran.push(sql), all(...(args as [])));
    (st as { iterate: unknown }).iterate = (...args: unknown[]) => (ran.push(sql), iterate(...(args as [])));
    return st;
  };
  let t = Date.parse('2026-01-01T00:00:00Z');
  const q = createQuarantine(db, () => t);
  const order = shuffled(EXPIRED + 200);
  db.transaction(() => order.forEach((i, k) => (k < EXPIRED ? q.free('p', blockOf(i), `l${i}`, null, 600_000) : q.hold('p', blockOf(i), `l${i}`, null))))();
  t += 3_600_000;
  const held = new Set(order.slice(EXPIRED));
  const expected = [...Array(EXPIRED + 200).keys()].filter((i) => !held.has(i)).map((i) => formatPrefix(blockOf(i)));
  ran.length = 0;
  const first = q.takeExpired('p', SWEEP_BATCH).map(formatPrefix);
  assert.equal(first, expected.slice(0, SWEEP_BATCH));
  const picks = ran.filter((s) => /FROM ipam_quarantine\b/.test(s) && /ORDER BY start_hex/.test(s));
  assert.is(picks.length, 1, ran.join('\n'));
  const lines = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${picks[0]}`).all({ pool: 'p', now: 'x', limit: 1, budget: 1 }).map((r) => r.detail);
  assert.equal(lines, ['CO-ROUTINE (subquery-1)', 'SEARCH ipam_quarantine USING PRIMARY KEY (pool=?)', 'SCAN (subquery-1)'], lines.join(' | '));
  // The drain goes on to the last expired block, in address order, and leaves the held ones.
  const rest: string[] = [];
  for (let got = SWEEP_BATCH; got === SWEEP_BATCH; ) {
    const batch = q.takeExpired('p', SWEEP_BATCH).map(formatPrefix);
    rest.push(...batch);
    got = batch.length;
  }
  assert.equal([...first, ...rest], expected);
  assert.is(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ipam_quarantine').get()!.n, 200);
});

test('PostgreSQL: with many expired, the pick walks the primary key and the delete seeks each row by it', async () => {
  if (!postgresAvailable('PostgreSQL sweep batch plan')) return;
  await withMigratedClient('sweepbatch', async (c) => {
    await c.query(`INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
      SELECT 'p', '20010db8' || lpad(to_hex(i), 8, '0') || repeat('0', 16), '20010db8' || lpad(to_hex(i), 8, '0') || repeat('f', 16),
        '2001:db8:' || to_hex(i >> 16) || ':' || to_hex(i & 65535) || '::/64', 'l-' || i, null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z',
        '2026-01-01T00:' || lpad(((i * 7919) % 60)::text, 2, '0') || ':00.000Z'
      FROM generate_series(1, 16000) AS i`);
    await c.query('ANALYZE ipam_quarantine');
    const now = '2026-01-01T02:00:00.000Z';
    const lines = await explained(c, PG_QUARANTINE.takeExpired, ['p', now, SWEEP_BATCH]);
    assert.not.match(lines, /Seq Scan/, lines);
    // Review18: the walk is bounded (SORT_AT_MOST rows), and what sorts sorts the CTE of as many expired.
    assert.match(lines, /Limit[^\n]*\n\s+->  Index Scan using ipam_quarantine_pkey[^\n]*\n\s+Index Cond: \(pool = 'p'::text\)/, lines);
    assert.not.match(lines, /Sort  [^\n]*\n(\s+Sort Key[^\n]*\n)?\s+->  (?!CTE Scan on expired)/, lines);
    assert.match(lines, /Index Cond: \(\(pool = 'p'::text\) AND \(start_hex = ANY/, lines);
    const taken = await c.query<{ prefix: string }>(PG_QUARANTINE.takeExpired, ['p', now, SWEEP_BATCH]);
    const got = taken.rows.map((r) => r.prefix).sort((a, b) => (parsePrefix(a).network < parsePrefix(b).network ? -1 : 1));
    assert.equal(got, [...Array(SWEEP_BATCH).keys()].map((i) => formatPrefix(blockOf(i + 1))));
  });
});

test.run();
