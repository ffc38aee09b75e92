// The embedded IPAM on PostgreSQL gives back a bounded batch of expired hold-downs per allocation
// too (under the pool's lock, which every instance waits on) and sweeps the rest apart. A full
// pool whose free space is only expired blocks still allocates, and gets the lowest block: the
// batch is the lowest addresses, as on SQLite (a review found `LIMIT` without `ORDER BY`, which gave
// a higher block when the blocks were freed highest first). The figures hold; the sweep drains the
// rest without a clean-up run. Review15 (moved15): in a full pool whose old blocks expired outside
// its moved parent the allocation took batch after batch in one transaction, under the pool's lock
// (16,000: 2.3 s); it now takes one batch and leaves the rest to the sweep's transactions.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import { ALLOCATION_GIVE_BACK, SWEEP_BATCH, type EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import type pg from 'pg';

const test = suite('review14 scale: bounded give-back on PostgreSQL');
let cluster: PgCluster | null = null;
let n = 0;
test.after(async () => void (await cluster?.stop()));

// 256 /56 in a /48: full once all are allocated, so only expired blocks can be given.
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 60, sticky: false };
const cmd = (key: string) => ({ key, lifecycleId: `lc-${key}`, subscriberId: `sub-${key}`, pool: 'p', prefixLength: 56 });

/** Waits up to 2 s for the quarantine to empty; answers how many rows are left. */
async function drained(db: pg.Pool): Promise<number> {
  const left = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM ipam_quarantine')).rows[0]!.n);
  for (let i = 0; i < 200 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
  return left();
}

/** The pool filled, every block freed (`order` of their addresses, a ms apart) and its hold-down passed; then `fn`, then the sweep drained. */
async function fullAndExpired(order: 'lowest first' | 'highest first', fn: (ipam: IpamPort, db: pg.Pool) => Promise<void>): Promise<void> {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster ??= await startPostgres();
  const db = createPgPool({ url: await cluster.createDatabase(`give_back_${++n}`), max: 4 });
  try {
    await migrate(db);
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
    const ipam = await createPgEmbeddedIpam(db, [POOL], { now: () => clock.ms });
    const made = [];
    for (let i = 0; i < 256; i++) made.push(await ipam.allocate(cmd(`k${i}`)));
    const indexes = [...made.keys()];
    for (const i of order === 'lowest first' ? indexes : indexes.reverse()) {
      clock.ms += 1;
      await ipam.free({ lifecycleId: `lc-k${i}`, subscriberId: `sub-k${i}`, pool: 'p', prefix: made[i]!.prefix, netboxPrefixId: null });
    }
    clock.ms += 61_000;
    assert.ok(256 > ALLOCATION_GIVE_BACK);
    await fn(ipam, db);
    assert.is(await drained(db), 0, 'the sweep started by the allocation gave back the rest');
  } finally {
    await db.end();
  }
}

test('every block expired in a full pool: the allocation gets the lowest, the sweep gives back the rest, the figures hold', async () => {
  await fullAndExpired('lowest first', async (ipam, db) => {
    assert.is((await ipam.allocate(cmd('after'))).prefix, '2001:db8::/56');
    assert.is(await drained(db), 0);
    const [u] = await ipam.utilization();
    assert.equal({ allocated: u!.allocated, heldDown: u!.heldDown }, { allocated: 1, heldDown: 0 });
    const runs = (await db.query<{ start_hex: string; end_hex: string }>('SELECT start_hex, end_hex FROM ipam_free ORDER BY start_hex')).rows;
    assert.equal(runs, [{ start_hex: '20010db8000001000000000000000000', end_hex: '20010db80000ffffffffffffffffffff' }], 'one maximal free run after the allocated block');
  });
});

test('blocks freed highest first (the lowest block\'s hold-down ends last): the allocation still gets the lowest', async () => {
  await fullAndExpired('highest first', async (ipam) => {
    assert.is((await ipam.allocate(cmd('after'))).prefix, '2001:db8::/56', 'first fit over every block whose hold-down has passed');
  });
});

// Every row leaving the quarantine, by the transaction that took it.
const LOG_GIVEN_BACK = `
  CREATE TABLE given_back_log (tx bigint NOT NULL);
  CREATE FUNCTION log_given_back() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO given_back_log VALUES (txid_current()); RETURN NULL; END $$;
  CREATE TRIGGER log_given_back AFTER DELETE ON ipam_quarantine FOR EACH ROW EXECUTE FUNCTION log_given_back();`;

/** N blocks of an old /40 freed and expired outside the moved /48, whose 256 blocks are allocated, `freed` of them freed and expired too; answers rows given back per transaction. */
async function movedAndExpired(freed: number, fn: (ipam: IpamPort) => Promise<void>): Promise<number[]> {
  const N = 1_000;
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return [];
  cluster ??= await startPostgres();
  const db = createPgPool({ url: await cluster.createDatabase(`give_back_${++n}`), max: 4 });
  try {
    await migrate(db);
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
    const old = await createPgEmbeddedIpam(db, [{ ...POOL, prefix: '2001:db8::/40' }], { now: () => clock.ms });
    for (let i = 0; i < N; i++) {
      const { prefix } = await old.allocate(cmd(`k${i}`));
      await old.free({ lifecycleId: `lc-k${i}`, subscriberId: `sub-k${i}`, pool: 'p', prefix, netboxPrefixId: null });
    }
    const ipam = await createPgEmbeddedIpam(db, [{ ...POOL, prefix: '2001:db9::/48' }], { now: () => clock.ms });
    const made = [];
    for (let i = 0; i < 256; i++) made.push((await ipam.allocate(cmd(`new${i}`))).prefix);
    for (let i = 256 - freed; i < 256; i++) await ipam.free({ lifecycleId: `lc-new${i}`, subscriberId: `sub-new${i}`, pool: 'p', prefix: made[i]!, netboxPrefixId: null });
    clock.ms += 61_000;
    await db.query(LOG_GIVEN_BACK);
    await fn(ipam);
    assert.is(await drained(db), 0, 'every expired block left the quarantine');
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM given_back_log GROUP BY tx ORDER BY tx');
    assert.is(rows.reduce((sum, r) => sum + r.n, 0), N + freed);
    return rows.map((r) => r.n);
  } finally {
    await db.end();
  }
}

test('a full pool whose old blocks expired outside its moved parent: the allocation\'s transaction gives back one batch, the sweep\'s the rest', async () => {
  const perTransaction = await movedAndExpired(0, async (ipam) => {
    try {
      await ipam.allocate(cmd('after'));
      assert.unreachable('the pool is full');
    } catch (err) {
      assert.is((err as { code?: string }).code, 'pool_exhausted');
    }
  });
  if (perTransaction.length === 0) return;
  assert.is(perTransaction[0], ALLOCATION_GIVE_BACK, `rows given back per transaction: ${perTransaction.join(', ')}`);
  assert.ok(Math.max(...perTransaction) <= SWEEP_BATCH, `rows given back per transaction: ${perTransaction.join(', ')}`);
});

test('the same pool with blocks of its own expired behind the old ones: the allocation still gets the lowest of them', async () => {
  const perTransaction = await movedAndExpired(10, async (ipam) => {
    assert.is((await ipam.allocate(cmd('after'))).prefix, '2001:db9:0:f600::/56', 'first fit over every expired block, as before');
  });
  if (perTransaction.length === 0) return;
  assert.ok(Math.max(...perTransaction) <= SWEEP_BATCH, `rows given back per transaction: ${perTransaction.join(', ')}`);
});

test.run();
