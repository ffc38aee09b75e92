// Review 18: the embedded IPAM finds what meets a range of a pool by two bounded seeks (the rows
// starting inside it, and the one row below), not `start_hex <= last AND end_hex >= first`, which
// walked every row of the pool below `last` (140 ms for one adoption near the top of a pool of
// 1,000,000 blocks). Each statement's answers are compared with a filter over all the rows, over
// ranges that start or end inside a block, cover several, touch one at a boundary or meet nothing;
// the SQLite plans are read for an open-ended search that is not the seek of the one row below.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type pg from 'pg';
import { FIRST_TAKEN_MEETING_RANGE, HELD_MEETING_RANGE, TAKEN_MEETING_RANGE } from '../../services/ipam/embedded-free.ts';
import { createOthersHeld, HELD_IN_RANGE, NEXT_POOL } from '../../services/ipam/embedded-others.ts';
import * as PG from '../../services/ipam/embedded-pg-meeting.ts';
import { EXPIRED_IN_RANGE, NOT_FREED } from '../../services/ipam/embedded-quarantine.ts';
import { formatPrefix, toHex } from '../../services/ipv6.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres } from '../support/postgres.ts';

const test = suite('review18: what meets a range of a pool, by two bounded seeks');

interface Row {
  table: 'blocks' | 'quarantine';
  pool: string;
  start: bigint;
  end: bigint;
  length: number;
  freedAt: string | null;
  reusableAt: string;
}
const NOW = '2026-06-01T00:00:00.000Z';
const BASE = 0x20010db8000000000000000000000000n;
const UNIT = 1n << 64n;

/** Deterministic (mulberry32), so that a failure is met again. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Aligned blocks of /60 to /64 in address order with gaps of 0-3 blocks, none overlapping another; `pool` names each one's pool. */
function walk(rnd: () => number, count: number, pool: () => string): Row[] {
  const rows: Row[] = [];
  let at = BASE;
  for (let i = 0; i < count; i++) {
    const length = [64, 64, 63, 62, 60][Math.floor(rnd() * 5)]!;
    const size = UNIT << BigInt(64 - length);
    at = ((at + size - 1n) / size) * size + size * BigInt(Math.floor(rnd() * 4));
    const kind = rnd();
    const table = kind < 0.55 ? 'blocks' : 'quarantine';
    // Quarantined (not freed), held down, or its hold-down passed at NOW.
    const [freedAt, reusableAt] = kind < 0.7 ? [null, NOT_FREED] : kind < 0.85 ? ['2026-05-01T00:00:00.000Z', '2026-07-01T00:00:00.000Z'] : ['2026-05-01T00:00:00.000Z', '2026-05-02T00:00:00.000Z'];
    rows.push({ table, pool: pool(), start: at, end: at + size - 1n, length, freedAt: table === 'blocks' ? null : freedAt, reusableAt });
    at += size;
  }
  return rows;
}

/** Ranges from every edge of every row (on it, one before, one after) and points inside, paired at random; some wide. */
function ranges(rnd: () => number, rows: Row[], count: number): Array<[bigint, bigint]> {
  const points = rows.flatMap((r) => [r.start, r.end, r.start - 1n, r.end + 1n, r.start + (r.end - r.start) / 2n]);
  const pick = () => points[Math.floor(rnd() * points.length)]!;
  const out: Array<[bigint, bigint]> = [[BASE, BASE + (1n << 80n) - 1n]];
  for (let i = 0; i < count; i++) {
    const a = pick();
    // Mostly near a (one or a few blocks), sometimes anywhere.
    const b = rnd() < 0.7 ? a + BigInt(Math.floor(rnd() * 3)) * UNIT * BigInt(1 << Math.floor(rnd() * 5)) + BigInt(Math.floor(rnd() * 2)) - 1n : pick();
    out.push(a <= b ? [a, b] : [b, a]);
  }
  return out;
}

const meets = (r: Row, pool: string, first: bigint, last: bigint) => r.pool === pool && r.start <= last && r.end >= first;
const byStart = (a: Row, b: Row) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0);
const expected = (rows: Row[], pool: string, first: bigint, last: bigint) => {
  const meeting = rows.filter((r) => meets(r, pool, first, last)).sort(byStart);
  const others = [...new Set(rows.filter((r) => r.pool !== pool).map((r) => r.pool))].sort();
  const held = others
    .map((o) => ({ pool: o, n: rows.filter((r) => meets(r, o, first, last) && (r.table === 'blocks' || r.freedAt === null)).length }))
    .find((o) => o.n > 0);
  return {
    taken: meeting.map((r) => ({ start_hex: toHex(r.start), end_hex: toHex(r.end) })),
    held: meeting.some((r) => r.table === 'blocks' || r.reusableAt > NOW),
    expired: meeting.filter((r) => r.table === 'quarantine' && r.reusableAt <= NOW).map((r) => formatPrefix({ network: r.start, length: r.length })),
    holders: meeting.filter((r) => r.table === 'blocks').map((r) => `lc-${toHex(r.start)}`),
    others: held,
  };
};

const blockValues = (r: Row) => [r.pool, toHex(r.start), toHex(r.end), formatPrefix({ network: r.start, length: r.length }), r.length, `k-${r.pool}-${toHex(r.start)}`, `lc-${toHex(r.start)}`, 'sub', NOW];
const quarantineValues = (r: Row) => [r.pool, toHex(r.start), toHex(r.end), formatPrefix({ network: r.start, length: r.length }), `lc-${toHex(r.start)}`, 'sub', '2026-01-01T00:00:00.000Z', r.freedAt, r.reusableAt];
const INSERT_BLOCK = 'INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at) VALUES';
const INSERT_QUARANTINED = 'INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at) VALUES';

/** Pool 'p' with blocks and quarantined blocks; 'o' (a removed pool) over the same addresses, overlapping p's; 'q' far above. */
function sqliteRows(seed: number): Row[] {
  const rnd = random(seed);
  const p = walk(rnd, 300, () => 'p');
  const o = walk(rnd, 40, () => 'o').map((r) => ({ ...r, start: r.start + 7n * UNIT * 16n, end: r.end + 7n * UNIT * 16n }));
  const q = walk(rnd, 3, () => 'q').map((r) => ({ ...r, start: r.start + (1n << 100n), end: r.end + (1n << 100n) }));
  return [...p, ...o, ...q];
}

function withSqlite(rows: Row[], fn: (db: Db) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'review18-'));
  const db = openDatabase(join(dir, 'l.sqlite'));
  try {
    const block = db.prepare(`${INSERT_BLOCK} (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    const quarantined = db.prepare(`${INSERT_QUARANTINED} (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    db.transaction(() => {
      for (const r of rows) (r.table === 'blocks' ? block.run(...blockValues(r)) : quarantined.run(...quarantineValues(r)));
    })();
    fn(db);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const seed of [1, 2, 3]) {
  test(`SQLite, seed ${seed}: taken, first taken, held, expired and other pools' blocks in 1,500 ranges = a filter over every row`, () => {
    const rows = sqliteRows(seed);
    withSqlite(rows, (db) => {
      const taken = db.prepare(TAKEN_MEETING_RANGE);
      const first = db.prepare(FIRST_TAKEN_MEETING_RANGE);
      const held = db.prepare(HELD_MEETING_RANGE);
      const expired = db.prepare<unknown[], { prefix: string }>(EXPIRED_IN_RANGE);
      const othersHeld = createOthersHeld(db);
      let met = 0;
      for (const [a, b] of ranges(random(seed * 7), rows, 1500)) {
        const range = { pool: 'p', first_hex: toHex(a), last_hex: toHex(b) };
        const want = expected(rows, 'p', a, b);
        const at = `[${toHex(a)}, ${toHex(b)}]`;
        assert.equal(taken.all(range), want.taken, at);
        assert.equal(first.get(range), want.taken[0], at);
        assert.is(held.get({ ...range, now: NOW }) !== undefined, want.held, at);
        assert.equal(expired.all({ ...range, now: NOW }).map((r) => r.prefix), want.expired, at);
        assert.equal(othersHeld('p', range.first_hex, range.last_hex), want.others, at);
        assert.equal(othersHeld('o', range.first_hex, range.last_hex), expected(rows, 'o', a, b).others, at);
        if (want.taken.length > 0) met++;
      }
      // The ranges did meet blocks, and missed them: the comparison was not of empty answers only.
      assert.ok(met > 300 && met < 1400, `${met} ranges met a block`);
    });
  });
}

/** What in a plan could read every row of the pool below the range: an open-ended search that is not the seek of the row below, a scan, another index, a sort of more than that row. */
function openEnded(db: Db, sql: string): string[] {
  const plan = db.prepare<unknown[], { id: number; parent: number; detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all({ pool: 'p', first_hex: '0'.repeat(32), last_hex: 'f'.repeat(32), now: NOW, after: '' });
  const byId = new Map(plan.map((r) => [r.id, r]));
  const belowUnder = (id: number) => plan.some((r) => r.parent === id && r.detail === 'CO-ROUTINE below');
  const problems: string[] = [];
  for (const r of plan) {
    const parent = byId.get(r.parent)?.detail;
    if (/^SCAN ipam_/.test(r.detail)) problems.push(r.detail);
    if (/^SEARCH ipam_/.test(r.detail) && !/USING PRIMARY KEY \(pool=\? AND start_hex/.test(r.detail)) problems.push(r.detail);
    if (/start_hex<\?\)/.test(r.detail) && !/start_hex>\?/.test(r.detail) && parent !== 'CO-ROUTINE below') problems.push(r.detail);
    if (/TEMP B-TREE/.test(r.detail) && !belowUnder(r.parent)) problems.push(r.detail);
  }
  // Each seek below is `ORDER BY start_hex DESC LIMIT 1`: what makes it read one row.
  const seeks = plan.filter((r) => r.detail === 'CO-ROUTINE below').length;
  if (seeks !== sql.split('ORDER BY start_hex DESC LIMIT 1) AS below').length - 1) problems.push(`${seeks} seeks below`);
  return problems;
}

test('SQLite: EXPLAIN QUERY PLAN of each statement: ranges bounded both sides, the row below by a LIMIT 1 seek, no scan, no other index', () => {
  withSqlite([], (db) => {
    for (const [name, sql] of Object.entries({ TAKEN_MEETING_RANGE, FIRST_TAKEN_MEETING_RANGE, HELD_MEETING_RANGE, EXPIRED_IN_RANGE, HELD_IN_RANGE })) {
      assert.equal(openEnded(db, sql), [], name);
    }
    // The statement it replaced fails the same reading: the check can fail.
    const old = 'SELECT 1 FROM ipam_blocks WHERE pool = @pool AND start_hex <= @last_hex AND end_hex >= @first_hex LIMIT 1';
    assert.equal(openEnded(db, old), ['SEARCH ipam_blocks USING PRIMARY KEY (pool=? AND start_hex<?)']);
    const next = db.prepare<unknown[], { detail: string }>(`EXPLAIN QUERY PLAN ${NEXT_POOL}`).all({ after: '' }).map((r) => r.detail);
    assert.equal(next.filter((d) => /^(SEARCH|SCAN) ipam_/.test(d)).map((d) => /\(pool>\?\)$/.test(d)), [true, true], next.join('\n'));
  });
});

/** As sqliteRows, but one walk for every pool: PostgreSQL's exclusion constraints refuse blocks that overlap in any pool. */
function pgRows(seed: number): Row[] {
  const rnd = random(seed);
  return walk(rnd, 300, () => (rnd() < 0.85 ? 'p' : rnd() < 0.7 ? 'o' : 'q'));
}

test('PostgreSQL: taken, held, expired taken out, the holder and other pools\' blocks in 600 ranges = a filter over every row', async () => {
  if (!postgresAvailable('review18 meeting ranges on PostgreSQL')) return;
  const cluster = await startPostgres();
  let db: pg.Pool | null = null;
  try {
    db = createPgPool({ url: await cluster.createDatabase('review18_meeting') });
    await migrate(db);
    const rows = pgRows(4);
    for (const r of rows) {
      const values: unknown[] = r.table === 'blocks' ? blockValues(r) : quarantineValues(r);
      await db.query(`${r.table === 'blocks' ? INSERT_BLOCK : INSERT_QUARANTINED} (${values.map((_, i) => `$${i + 1}`).join(', ')})`, values);
    }
    const c = await db.connect();
    try {
      let met = 0;
      for (const [a, b] of ranges(random(44), rows, 600)) {
        const range = ['p', toHex(a), toHex(b)];
        const want = expected(rows, 'p', a, b);
        const at = `[${toHex(a)}, ${toHex(b)}]`;
        assert.equal((await c.query(PG.TAKEN_MEETING_RANGE, range)).rows, want.taken, at);
        assert.is((await c.query(PG.HELD_BESIDES_EXPIRED, [...range, NOW])).rows.length > 0, want.held, at);
        const holder = (await c.query<{ lifecycle_id: string }>(PG.HOLDER_IN_RANGE, range)).rows.map((r) => r.lifecycle_id);
        assert.is(holder.length, Math.min(1, want.holders.length), at);
        if (holder[0]) assert.ok(want.holders.includes(holder[0]), at);
        await c.query('BEGIN');
        const taken = (await c.query<{ prefix: string }>(PG.TAKE_EXPIRED_IN, [...range, NOW])).rows.map((r) => r.prefix);
        await c.query('ROLLBACK');
        assert.equal(taken.sort(), [...want.expired].sort(), at);
        assert.equal(await PG.othersHeld(c, 'p', range[1]!, range[2]!), want.others, at);
        assert.equal(await PG.othersHeld(c, 'o', range[1]!, range[2]!), expected(rows, 'o', a, b).others, at);
        if (want.taken.length > 0) met++;
      }
      assert.ok(met > 100 && met < 580, `${met} ranges met a block`);
    } finally {
      c.release();
    }
  } finally {
    await db?.end();
    await cluster.stop();
  }
});

test.run();
