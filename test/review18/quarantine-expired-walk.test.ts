// Review18 (issue 10): with SORT_AT_MOST or more expired, a batch of takeExpired walked the pool's
// primary key with the expiry filtered, unbounded: every block still held at lower addresses was read
// first (200,000 held under 3,000 expired: 70 ms a batch of 64, on the allocation path). The walk now
// stops at SORT_AT_MOST rows; past it the batch is the longest expired, by the expiry index. Each case
// is checked against a brute-force expectation over every row, and by the plans that ran.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createQuarantine, SORT_AT_MOST } from '../../services/ipam/embedded-quarantine.ts';
import { ALLOCATION_GIVE_BACK, SWEEP_BATCH } from '../../services/ipam/pool-rules.ts';
import { parsePrefix, formatPrefix, toHex } from '../../services/ipv6.ts';
import { openDatabase } from '../../store/db.ts';
import { PG_QUARANTINE, pgQuarantine } from '../../services/ipam/embedded-pg-quarantine.ts';
import { withMigratedClient } from '../support/pg-migrated.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('review18 quarantine expired walk');
const HOLD_MS = 600_000;
const blockOf = (i: number) => parsePrefix(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
/** 0..n-1 in an order that is not address order (the order hold-downs end in). */
const shuffled = (n: number) => [...Array(n).keys()].sort((a, b) => ((a * 7919) % n) - ((b * 7919) % n));

/** A quarantine whose blocks `held` stay held and `expired` (freed in shuffled order, a ms apart) have passed their hold-down; `ran` records each statement read. */
function rig(held: number[], expired: number[]) {
  const db = openDatabase(':memory:');
  const ran: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: unknown }).prepare = (sql: string) => {
    const st = prepare(sql);
    for (const m of ['all', 'iterate', 'get'] as const) {
      const f = (st[m] as (...a: unknown[]) => unknown).bind(st);
      (st as unknown as Record<string, unknown>)[m] = (...args: unknown[]) => (ran.push(sql), f(...args));
    }
    return st;
  };
  let t = Date.parse('2026-01-01T00:00:00Z');
  const q = createQuarantine(db, () => t);
  db.transaction(() => {
    for (const i of held) q.hold('p', blockOf(i), `l${i}`, null);
    for (const k of shuffled(expired.length)) (t += 1), q.free('p', blockOf(expired[k]!), `l${expired[k]}`, null, HOLD_MS);
  })();
  t += HOLD_MS + 1;
  /** What every row says: the expired as (reusable_at, start_hex), the order of the expiry index. */
  const byExpiry = () =>
    db.prepare<[string], { prefix: string }>('SELECT prefix FROM ipam_quarantine WHERE reusable_at <= ? ORDER BY reusable_at, start_hex').all(new Date(t).toISOString()).map((r) => r.prefix);
  const planOf = (sql: string) =>
    db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all({ pool: 'p', now: 'x', limit: 1, budget: 1, probe: 1 }).map((r) => r.detail);
  return { db, q, ran, byExpiry, planOf };
}
const byAddress = (prefixes: string[]) => [...prefixes].sort((a, b) => (toHex(parsePrefix(a).network) < toHex(parsePrefix(b).network) ? -1 : 1));
const range = (from: number, n: number) => [...Array(n).keys()].map((i) => from + i);

for (const limit of [ALLOCATION_GIVE_BACK, SWEEP_BATCH]) {
  test(`3,000 expired above 5,000 held, takeExpired(p, ${limit}): the ${limit} longest expired in address order, read by the expiry index, the walk bounded`, () => {
    const { q, ran, byExpiry, planOf } = rig(range(0, 5000), range(5000, 3000));
    const expected = byAddress(byExpiry().slice(0, limit));
    ran.length = 0;
    assert.equal(q.takeExpired('p', limit).map(formatPrefix), expected);
    const picks = ran.filter((s) => /FROM ipam_quarantine\b/.test(s) && !/^DELETE/.test(s));
    for (const sql of picks) {
      const lines = planOf(sql);
      // The pool's primary key by (pool=?) alone reads the pool in address order: only with a bound.
      if (lines.some((l) => /USING PRIMARY KEY \(pool=\?\)$/.test(l))) assert.match(sql, /ORDER BY start_hex LIMIT @budget\)/, `${sql}\n${lines.join(' | ')}`);
      assert.not.ok(lines.some((l) => /^SCAN ipam_|TEMP B-TREE/.test(l)) && !/INDEXED BY ipam_quarantine_expiry/.test(sql), `${sql}\n${lines.join(' | ')}`);
    }
    const longest = picks.find((s) => /ORDER BY reusable_at/.test(s));
    assert.ok(longest, picks.join('\n'));
    assert.equal(planOf(longest!), ['SEARCH ipam_quarantine USING INDEX ipam_quarantine_expiry (pool=? AND reusable_at<?)']);
  });
}

test('the sweep drains every expired block above the held ones, in batches, and leaves the held', () => {
  const { db, q, byExpiry } = rig(range(0, 5000), range(5000, 3000));
  const all = byExpiry();
  const taken: string[] = [];
  for (let got = SWEEP_BATCH; got === SWEEP_BATCH; ) {
    const batch = q.takeExpired('p', SWEEP_BATCH).map(formatPrefix);
    assert.equal(batch, byAddress(batch), 'each batch in address order');
    taken.push(...batch);
    got = batch.length;
  }
  assert.equal(byAddress(taken), byAddress(all));
  assert.is(db.prepare<[], { n: number }>('SELECT count(*) AS n FROM ipam_quarantine').get()!.n, 5000);
});

test('many expired at the lowest addresses (held shuffled among them): the lowest, as before', () => {
  const ids = shuffled(6000);
  const held = ids.slice(0, 150);
  const heldSet = new Set(held);
  const { q } = rig(held, ids.slice(150));
  const lowest = range(0, 6000).filter((i) => !heldSet.has(i)).map((i) => formatPrefix(blockOf(i)));
  assert.equal(q.takeExpired('p', ALLOCATION_GIVE_BACK).map(formatPrefix), lowest.slice(0, ALLOCATION_GIVE_BACK));
  assert.equal(q.takeExpired('p', SWEEP_BATCH).map(formatPrefix), lowest.slice(ALLOCATION_GIVE_BACK, ALLOCATION_GIVE_BACK + SWEEP_BATCH));
});

test('fewer than SORT_AT_MOST expired above 5,000 held: the lowest of them (first fit over every expired block), as before', () => {
  const n = SORT_AT_MOST - 1;
  const { q, byExpiry } = rig(range(0, 5000), range(5000, n));
  const expected = byAddress(byExpiry()).slice(0, ALLOCATION_GIVE_BACK);
  assert.equal(q.takeExpired('p', ALLOCATION_GIVE_BACK).map(formatPrefix), expected);
});

// PostgreSQL chose by its statistics, and with 50,000 held under 3,000 expired took the primary key,
// filtering every held row (the audit's 200,000: 48 ms a batch of 64). What any node of the plan reads
// and drops is at most SORT_AT_MOST; which blocks come back is what the SQLite quarantine gives.
const PG_HELD = 50_000;
const PG_SHAPES: Array<[string, number, number, number]> = [
  // [name, held at the lowest addresses, expired above them, batch]
  ['3,000 expired above 50,000 held, a batch of 64: the longest expired', PG_HELD, 3000, ALLOCATION_GIVE_BACK],
  ['3,000 expired above 50,000 held, a batch of 500: the longest expired', PG_HELD, 3000, SWEEP_BATCH],
  ['1,999 expired above 50,000 held: the lowest of them', PG_HELD, SORT_AT_MOST - 1, ALLOCATION_GIVE_BACK],
  ['6,000 expired above 100 held: the lowest', 100, 6000, SWEEP_BATCH],
];
for (const [name, held, expired, limit] of PG_SHAPES) {
  test(`PostgreSQL: ${name}, no plan node drops more than SORT_AT_MOST rows`, async () => {
    if (!postgresAvailable('PostgreSQL quarantine expired walk')) return;
    await withMigratedClient('r18walk', async (c) => {
      // Expired ones a ms apart in an order that is not their addresses', held ones never freed.
      await c.query(`INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
        SELECT 'p', '20010db8' || lpad(to_hex(i), 8, '0') || repeat('0', 16), '20010db8' || lpad(to_hex(i), 8, '0') || repeat('f', 16),
          '2001:db8:' || to_hex(i >> 16) || ':' || to_hex(i & 65535) || '::/64', 'l-' || i, null, '2026-01-01T00:00:00.000Z',
          CASE WHEN i > $1::int THEN '2026-01-01T00:00:00.000Z' END,
          CASE WHEN i > $1::int THEN to_char(timestamp '2026-01-01' + ((i * 7919) % $2::int) * interval '1 ms', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ELSE $3 END
        FROM generate_series(1, $1::int + $2::int) AS i`, [held, expired, '9999-12-31T23:59:59.999Z']);
      await c.query('ANALYZE ipam_quarantine');
      const now = Date.parse('2026-01-01T01:00:00.000Z');
      const rows = (await c.query<{ prefix: string; start_hex: string; reusable_at: string }>(
        "SELECT prefix, start_hex, reusable_at FROM ipam_quarantine WHERE reusable_at <= $1 ORDER BY reusable_at, start_hex", [new Date(now).toISOString()])).rows;
      const lowest = [...rows].sort((a, b) => (a.start_hex < b.start_hex ? -1 : 1)).map((r) => r.prefix);
      const heldBelow = held >= SORT_AT_MOST && expired >= SORT_AT_MOST;
      const expected = heldBelow ? byAddress(rows.slice(0, limit).map((r) => r.prefix)) : lowest.slice(0, limit);
      await c.query('BEGIN');
      const lines = (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) ${PG_QUARANTINE.takeExpired}`, ['p', new Date(now).toISOString(), limit])).rows.map((r) => r['QUERY PLAN']);
      await c.query('ROLLBACK');
      const dropped = lines.map((l) => /Rows Removed by Filter: (\d+)/.exec(l)).filter((m) => m).map((m) => Number(m![1]));
      assert.ok(dropped.every((n) => n <= SORT_AT_MOST), lines.join('\n'));
      assert.not.match(lines.join('\n'), /Seq Scan/);
      const taken = await pgQuarantine(() => now).takeExpired(c, 'p', limit);
      assert.equal(taken.map(formatPrefix), expected);
    });
  });
}

test.run();
