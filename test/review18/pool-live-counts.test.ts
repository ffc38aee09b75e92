// Review 18 (issue 10): a draining pool's figure was a count of the pool's live lifecycles on
// lifecycles_pool (154 ms at 1,000,000), read on every metrics reading and every request naming the
// pool; whether it still held embedded blocks, a count of them all (180 ms). The live count is now
// kept by triggers beside the state counts (SQLite migration 022, PostgreSQL 013), and the blocks
// are asked whether any is left. These hold the kept count to a recount through every kind of write.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, type LifecycleRow } from '../../store/lifecycles.ts';
import { createPoolUse } from '../../store/pool-use.ts';
import { createPgPoolUse, LIVE_OF_POOL } from '../../store/postgresql/pool-use.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { createPgLifecycleStore } from '../../store/postgresql/lifecycles.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres } from '../support/postgres.ts';

const test = suite('review18: live lifecycles per pool, kept as they are written');
const POOLS = ['res', 'biz', 'old'];
const STATES = ['pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed'] as const;

/** A seeded sequence of writes: new lifecycles, state changes (to and from revoked), pool moves, deletes. */
function* writes(n: number): Generator<{ kind: 'save'; row: LifecycleRow } | { kind: 'delete'; id: string }> {
  let s = 18;
  const random = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const rows = new Map<string, LifecycleRow>();
  for (let i = 0; i < n; i++) {
    const existing = [...rows.values()];
    const r = random();
    if (existing.length === 0 || r < 0.35) {
      const row = lifecycleRow({ id: `lc-${i}`, subscriber_id: `sub-${i}`, pool: pick(POOLS), state: pick(STATES) });
      rows.set(row.id, row);
      yield { kind: 'save', row };
    } else if (r < 0.9) {
      const before = pick(existing);
      const row = { ...before, state: pick(STATES), pool: random() < 0.2 ? pick(POOLS) : before.pool, updated_at: `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}.000Z` };
      rows.set(row.id, row);
      yield { kind: 'save', row };
    } else {
      const gone = pick(existing);
      rows.delete(gone.id);
      yield { kind: 'delete', id: gone.id };
    }
  }
}

const recount = (db: Db) =>
  Object.fromEntries(POOLS.map((p) => [p, (db.prepare("SELECT count(*) AS n FROM lifecycles WHERE pool = ? AND state <> 'revoked'").get(p) as { n: number }).n]));

test('SQLite: the kept count of each pool is a recount of its live lifecycles after every write', () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const use = createPoolUse(db);
  let step = 0;
  for (const w of writes(600)) {
    if (w.kind === 'save') store.save(w.row, null);
    else db.prepare('DELETE FROM lifecycles WHERE id = ?').run(w.id);
    if (++step % 7 !== 0) continue;
    const kept = Object.fromEntries(POOLS.map((p) => [p, use.users(p).lifecycles]));
    assert.equal(kept, recount(db), `after write ${step}`);
  }
  assert.ok(Object.values(recount(db)).every((n) => n > 0), 'every pool has live lifecycles at the end');
  db.close();
});

test('SQLite: whether a pool still holds embedded blocks, not how many', () => {
  const db = openDatabase(':memory:');
  const use = createPoolUse(db);
  const insert = db.prepare(
    `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
     VALUES (?, ?, ?, ?, 56, ?, ?, 's', '2026-01-01T00:00:00.000Z')`,
  );
  for (let i = 0; i < 5; i++) {
    const hex = `20010db8000${i}` + '0'.repeat(20);
    insert.run('gone', hex, `20010db8000${i}` + 'ff' + 'f'.repeat(18), `2001:db8:${i}::/56`, `k${i}`, `lc-${i}`);
  }
  assert.equal(use.users('gone'), { lifecycles: 0, blocks: 1 });
  assert.equal(use.users('none'), { lifecycles: 0, blocks: 0 });
  db.close();
});

test('PostgreSQL: the same writes, the same kept counts (migration 013\'s lifecycle_counts_apply)', async () => {
  if (!postgresAvailable('PostgreSQL pool live counts')) return;
  const cluster = await startPostgres();
  try {
    const url = await cluster.createDatabase('poolcounts');
    const pool = createPgPool({ url, max: 2 });
    await migrate(pool);
    const lifecycles = createPgLifecycleStore(pool);
    const use = createPgPoolUse(pool);
    const count = async () =>
      Object.fromEntries(
        await Promise.all(POOLS.map(async (p) => [p, (await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM lifecycles WHERE pool = $1 AND state <> 'revoked'", [p])).rows[0]!.n])),
      );
    let step = 0;
    for (const w of writes(300)) {
      if (w.kind === 'save') await lifecycles.save(w.row, null);
      else await pool.query('DELETE FROM lifecycles WHERE id = $1', [w.id]);
      if (++step % 7 !== 0) continue;
      const kept = Object.fromEntries(await Promise.all(POOLS.map(async (p) => [p, (await use.users(p)).lifecycles])));
      assert.equal(kept, await count(), `after write ${step}`);
    }
    assert.is((await pool.query<{ n: number }>(LIVE_OF_POOL, ['never'])).rows[0]!.n, 0);
    await pool.end();
  } finally {
    await cluster.stop();
  }
});

test.run();
