// The PostgreSQL statements of pool use, the lists, the forecast, the reconciliation run and the audit pruning read through
// an index (test/store/query-plans.test.ts does the same for SQLite). With sequential scans priced
// out (enable_seqscan = off, enable_bitmapscan = off), the planner still picks one only where no index can serve the query:
// an empty test table says nothing about size, the absence of a usable index says everything.
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LIFECYCLE_STATES } from '../../../machines/types.ts';
import { PG_QUARANTINE } from '../../../services/ipam/embedded-pg-quarantine.ts';
import { AUDIT_PAGE, AUDIT_REMOVE } from '../../../store/postgresql/audit-retention.ts';
import { FLOWS } from '../../../store/postgresql/counts.ts';
import { EVENTS_AFTER, LAST_SEQ, pgListQuery } from '../../../store/postgresql/lifecycles.ts';
import { createPgPool, migrate } from '../../../store/postgresql/pool.ts';
import { EMBEDDED_OF_POOL, EMBEDDED_POOLS, EMBEDDED_ROWS_OF_POOL, KINDS_OF_POOL, LIFECYCLE_POOLS, LIVE_OF_POOL } from '../../../store/postgresql/pool-use.ts';
import { PAGE, PAGE_OF_KIND } from '../../../store/postgresql/reconciliation.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../../support/postgres.ts';

const test = suite('store/postgresql query plans');
let cluster: PgCluster | null = null;
let client: pg.Client | null = null;
test.after(async () => {
  await client?.end();
  await cluster?.stop();
});

/** The plan's lines, parameters bound (EXPLAIN takes them as the statement would). */
async function plan(sql: string, values: unknown[]): Promise<string> {
  const { rows } = await client!.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, values);
  return rows.map((r) => r['QUERY PLAN']).join('\n');
}

async function connect(): Promise<boolean> {
  if (client) return true;
  if (!postgresAvailable('PostgreSQL query plans')) return false;
  cluster = await startPostgres();
  const url = await cluster.createDatabase('plans');
  const pool = createPgPool({ url, max: 1 });
  await migrate(pool);
  await pool.end();
  client = new pg.Client({ connectionString: url });
  await client.connect();
  // Bitmap scans too: on empty tables the planner prefers a bitmap scan and a sort to an ordered index scan.
  await client.query('SET enable_seqscan = off');
  await client.query('SET enable_bitmapscan = off');
  return true;
}

const NO_SCAN = /Seq Scan on (lifecycles|audit|ipam_allocations|ipam_quarantine|reconciliation_discrepancies)\b/;

test('pool use: the pools in use by loose index scans, each pool\'s rows by its index', async () => {
  if (!(await connect())) return;
  const cases: [string, unknown[], RegExp[]][] = [
    [LIFECYCLE_POOLS, [], [/Index Only Scan using lifecycles_pool on lifecycles/]],
    [LIVE_OF_POOL, ['p'], [/Index Scan using lifecycle_counts_pkey on lifecycle_counts/]],
    [KINDS_OF_POOL, ['p'], [/lifecycles_pool/]],
    [EMBEDDED_POOLS, [], [/Index Only Scan using ipam_allocations_block on ipam_allocations/, /Index Only Scan using ipam_quarantine_(pkey|expiry) on ipam_quarantine/]],
    [EMBEDDED_OF_POOL, ['p'], [/ipam_allocations_block/, /ipam_quarantine_(pkey|expiry)/]],
    [EMBEDDED_ROWS_OF_POOL, ['p'], [/ipam_allocations_block/, /ipam_quarantine_(pkey|expiry)/]],
  ];
  for (const [sql, values, wanted] of cases) {
    const lines = await plan(sql, values);
    assert.not.match(lines, NO_SCAN, `${sql}\n${lines}`);
    for (const re of wanted) assert.match(lines, re, `${sql}\n${lines}`);
  }
});

test('lists: both filters by one seek on lifecycles_pool; a pool alone by a page of each state\'s leg in its order', async () => {
  if (!(await connect())) return;
  const after = { created_at: 'x', id: 'x' };
  for (const order of ['asc', 'desc'] as const) {
    for (const cursor of [undefined, after]) {
      const both = pgListQuery({ state: 'failed', pool: 'p', order, after: cursor, limit: 10 });
      const one = await plan(both.text, both.values);
      assert.match(one, /Index Scan (Backward )?using lifecycles_pool on lifecycles [^\n]*\n\s+Index Cond: \(\(pool = 'p'::text\) AND \(state = 'failed'::text\)/, one);
      assert.not.match(one, /\bSort\b|Filter:/, one);
      const pool = pgListQuery({ pool: 'p', order, after: cursor, limit: 10 });
      const legs = await plan(pool.text, pool.values);
      assert.not.match(legs, NO_SCAN, legs);
      // Each leg cut at the limit over its index order: whatever sorts them sorts at most a page per state.
      const cut = [...legs.matchAll(/Limit[^\n]*\n\s+->  Index Scan (Backward )?using lifecycles_pool on lifecycles\w*[^\n]*\n\s+Index Cond: \(\(pool = 'p'::text\) AND \(state = '(\w+)'::text\)/g)];
      assert.equal(cut.map((m) => m[2]).sort(), [...LIFECYCLE_STATES].sort(), legs);
    }
  }
});

test('pool flows: the forecast and the trigger\'s prune read pool_tally by its hour', async () => {
  if (!(await connect())) return;
  const flows = await plan(FLOWS, ['2026-01-01T00']);
  assert.match(flows, /Index Scan using pool_tally_hour on pool_tally/, flows);
  const prune = await plan('DELETE FROM pool_tally WHERE hour < pool_tally_cut($1)', ['2026-01-01T00']);
  assert.match(prune, /Index Scan using pool_tally_hour on pool_tally/, prune);
  const { rows } = await client!.query<{ src: string }>("SELECT prosrc AS src FROM pg_proc WHERE proname = 'pool_tally_window'");
  assert.match(rows[0]!.src, /DELETE FROM pool_tally WHERE hour < pool_tally_cut\(NEW\.hour\)/, 'the trigger deletes as planned here');
});

test('reconciliation: a page of the run by its primary key, a page of one kind by reconciliation_kind, no sort', async () => {
  if (!(await connect())) return;
  for (const [sql, values, index] of [
    [PAGE, [1, 0, 10], /reconciliation_discrepancies_pkey/],
    [PAGE_OF_KIND, [1, 0, 10, 'k'], /reconciliation_kind/],
  ] as const) {
    const lines = await plan(sql, [...values]);
    assert.not.match(lines, NO_SCAN, lines);
    assert.match(lines, index, lines);
    assert.not.match(lines, /\bSort\b/, lines);
  }
});

test('audit pruning: the walk by audit_pkey, each lifecycle by lifecycles_pkey, the delete by audit_pkey', async () => {
  if (!(await connect())) return;
  const walk = await plan(AUDIT_PAGE, [0, 1000]);
  assert.not.match(walk, NO_SCAN, walk);
  assert.match(walk, /Index Scan using audit_pkey on audit/, walk);
  assert.match(walk, /lifecycles_pkey/, walk);
  assert.not.match(walk, /\bSort\b/, walk);
  const remove = await plan(AUDIT_REMOVE, [[1, 2]]);
  assert.match(remove, /audit_pkey/, remove);
});

test('a keyed request\'s mark (lastSeq) and a resume\'s read (eventsAfter): audit_subscriber, no sort', async () => {
  if (!(await connect())) return;
  for (const [sql, values] of [[LAST_SEQ, ['s']], [EVENTS_AFTER, ['s', 7]]] as const) {
    const lines = await plan(sql, [...values]);
    assert.not.match(lines, NO_SCAN, lines);
    assert.match(lines, /Index (Only )?Scan( Backward)? using audit_subscriber on audit/, lines);
    assert.not.match(lines, /\bSort\b/, lines);
  }
});

test('the embedded IPAM\'s quarantine: each statement an allocation or a release runs seeks its pool by an index', async () => {
  if (!(await connect())) return;
  // On an empty table every index of the pool ties; 5,000 quarantined /64s of one pool, analyzed,
  // let the planner choose as it would at an ISP (a seek, not the pool's whole range).
  await client!.query(`INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
    SELECT 'p', '20010db80000' || lpad(to_hex(i), 4, '0') || repeat('0', 16), '20010db80000' || lpad(to_hex(i), 4, '0') || repeat('f', 16),
      '2001:db8:0:' || to_hex(i) || '::/64', 'l-' || i, 's-' || (i % 500), '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-01-01T00:10:00.000Z'
    FROM generate_series(1, 5000) AS i`);
  await client!.query('ANALYZE ipam_quarantine');
  const t = '2026-01-01T00:00:00.000Z';
  const cases: [string, unknown[], RegExp][] = [
    [PG_QUARANTINE.free, ['p', '00', 'l', t, t], /ipam_quarantine_(pkey|lifecycle)/],
    [PG_QUARANTINE.heldFor, ['p', '00', 'l'], /ipam_quarantine_(pkey|lifecycle)/],
    [PG_QUARANTINE.drop, ['p', '00'], /ipam_quarantine_pkey/],
    [PG_QUARANTINE.stickyFor, ['p', 's'], /ipam_quarantine_subscriber/],
    [PG_QUARANTINE.takeExpired, ['p', t, null], /ipam_quarantine_expiry/],
  ];
  for (const [sql, values, index] of cases) {
    const lines = await plan(sql, values);
    assert.not.match(lines, NO_SCAN, `${sql}\n${lines}`);
    assert.match(lines, index, `${sql}\n${lines}`);
  }
});

test.run();
