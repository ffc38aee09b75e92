// PostgreSQL's migrations and pool with more than one instance on one database: migrations applied
// once when instances start together, and batches from two instances that cross on the kept counts
// (a deadlock, one of them refused by the server) all land.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pg from 'pg';
import { createPgPool, inTransaction, migrate, migrationFiles } from '../../../store/postgresql/pool.ts';
import { openPostgresStore } from '../../../store/postgresql/store.ts';
import { auditEntry, lifecycleRow } from '../../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../../support/postgres.ts';
import { uncaughtDuring } from '../../support/uncaught.ts';

const test = suite('store/postgresql pool and migrations');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

test('migration files are numbered 001, 002, … without a gap', () => {
  const files = migrationFiles();
  assert.ok(files.length >= 2);
  assert.equal(files.map((f) => f.version), files.map((_, i) => i + 1));
});

test('three instances migrating at once → each migration applied once; again → nothing to apply', async () => {
  if (!postgresAvailable('PostgreSQL migrations')) return;
  cluster = await startPostgres();
  const url = await cluster.createDatabase('migrate_check');
  const pools = [1, 2, 3].map(() => createPgPool({ url, max: 2 }));
  try {
    const applied = await Promise.all(pools.map((p) => migrate(p)));
    assert.equal(applied.flat().sort((a, b) => a - b), migrationFiles().map((f) => f.version));
    assert.equal(await migrate(pools[0]!), []);
    const { rows } = await pools[0]!.query<{ n: number }>('SELECT count(*) AS n FROM schema_migrations');
    assert.is(rows[0]!.n, migrationFiles().length);
  } finally {
    await Promise.all(pools.map((p) => p.end()));
  }
});

test('two instances writing crossing batches at once → every batch lands, every row holds its last write, the counts agree', async () => {
  if (!postgresAvailable('PostgreSQL concurrent batches')) return;
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase('crossing_batches');
  const [a, b] = [await openPostgresStore({ url, max: 4 }), await openPostgresStore({ url, max: 4 })];
  try {
    // Four groups of lifecycles, each instance owning two: one toggling active ↔ suspended, one
    // allocated ↔ failed. A's batches write the first kind first, B's the second kind first, so each
    // takes the count rows of migration 002 in the other's opposite order: a deadlock the server
    // breaks by refusing one batch, which the store runs again (rare here: the batches are short).
    const group = (tag: string, state: string) => Array.from({ length: 10 }, (_, i) => lifecycleRow({ id: `${tag}${i}`, state }));
    const groups = { a1: group('a1-', 'active'), a2: group('a2-', 'allocated'), b1: group('b1-', 'active'), b2: group('b2-', 'allocated') };
    const all = Object.values(groups).flat();
    await a.lifecycles.saveBatch(all.map((row) => ({ row, audit: auditEntry(row, 'CREATED') })));
    const toggle: Record<string, string> = { active: 'suspended', suspended: 'active', allocated: 'failed', failed: 'allocated' };
    const flip = (rows: typeof all) => rows.map((r, i) => (rows[i] = { ...r, state: toggle[r.state]! }));
    const rounds = 30;
    const run = async (store: typeof a, first: typeof all, second: typeof all, tag: string) => {
      for (let i = 0; i < rounds; i++) {
        const items = [...flip(first), ...flip(second)];
        await store.lifecycles.saveBatch(items.map((row) => ({ row, audit: auditEntry(row, `${tag}${i}`) })));
      }
    };
    await Promise.all([run(a, groups.a1, groups.a2, 'A'), run(b, groups.b2, groups.b1, 'B')]);
    const stored = await a.lifecycles.list({ limit: 100 });
    const expected: Record<string, number> = {};
    for (const r of Object.values(groups).flat()) expected[r.state] = (expected[r.state] ?? 0) + 1;
    const byId = new Map(Object.values(groups).flat().map((r) => [r.id, r.state]));
    assert.equal(stored.filter((r) => byId.get(r.id) !== r.state).map((r) => r.id), [], 'every row holds its last write');
    assert.equal(await b.lifecycles.countByState(), expected);
    const { rows: audit } = await a.pool.query<{ n: number }>('SELECT count(*) AS n FROM audit');
    assert.is(audit[0]!.n, 40 + 2 * rounds * 20);
  } finally {
    await a.close();
    await b.close();
  }
});

test('three instances saving batches at once, each through the five states → no deadlock on the kept counts', async () => {
  if (!postgresAvailable('PostgreSQL concurrent batches')) return;
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase('no_deadlocks');
  const stores = [await openPostgresStore({ url, max: 4 }), await openPostgresStore({ url, max: 4 }), await openPostgresStore({ url, max: 4 })];
  const states = ['allocated', 'active', 'suspended', 'active', 'revoked'];
  try {
    // Each writer a step behind or ahead of the others: their batches cross on the count rows of
    // two transitions at a time. Counts kept per row (the first version of migration 002) locked
    // those rows in each batch's own order here, and deadlocked.
    await Promise.all(
      stores.map(async (s, w) => {
        for (const state of states) {
          for (let i = 0; i < 400; i += 50) {
            const items = Array.from({ length: 50 }, (_, j) => {
              const row = lifecycleRow({ id: `w${w}-${i + j}`, state, prefix: `2001:db8:${w}:${(i + j).toString(16)}::/64`, allocated_at: '2026-01-01T00:00:00.000Z' });
              return { row, audit: auditEntry(row, state) };
            });
            await s.lifecycles.saveBatch(items);
          }
        }
      }),
    );
    assert.equal(await stores[0]!.lifecycles.countByState(), { revoked: 1200 });
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
  // The writers' connections are closed: their statistics have reached pg_stat_database.
  const pool = createPgPool({ url, max: 1 });
  try {
    await new Promise((r) => setTimeout(r, 200));
    const { rows } = await pool.query<{ n: number }>('SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()');
    assert.is(rows[0]!.n, 0);
  } finally {
    await pool.end();
  }
});

test('the server ending a connection while a transaction holds it (a restart, a failover) → inTransaction rejects; the process gets no unhandled error event', async () => {
  if (!postgresAvailable('PostgreSQL connection lost mid-transaction')) return;
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase('lost_mid_transaction');
  const pool = createPgPool({ url, max: 2 });
  const admin = new pg.Client({ connectionString: cluster.adminUrl });
  await admin.connect();
  // A checked-out pg client has no 'error' listener of the pool's: its 'error' event would end the process.
  let rejected: unknown = null;
  const uncaught = await uncaughtDuring(async () => {
    try {
      await inTransaction(pool, async (c) => {
        const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await new Promise((r) => setTimeout(r, 300));
        await c.query('SELECT 1');
      }).catch((err: unknown) => (rejected = err));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await admin.end();
      await pool.end();
    }
  });
  assert.ok(rejected, 'inTransaction rejects');
  assert.equal(uncaught.map((e) => e.message), [], 'uncaught errors: an instance dies of these when PostgreSQL restarts');
});

test.run();
