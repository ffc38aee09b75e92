import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPoolCounts } from '../../../services/ipam/embedded-counts.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import type { EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import { checkPools } from '../../../services/ipam/pool-rules.ts';
import { openDatabase, type Db } from '../../../store/db.ts';
import { compactSnapshotSql } from '../../../store/snapshot-codec.ts';
import { churn, CONFIGS, fromBlocks, T0, type Rows } from './counts-churn.ts';
import { allocate, quarantine, release, scratchDb } from './embedded-support.ts';

// utilization() reads counts the triggers of migration 015 keep (a few rows per pool), not the
// blocks: they must be what the blocks give, whatever happened to them.
const test = suite('embedded ipam: the kept counts utilization() reads');
const s = scratchDb(test);

const rowsOf = (db: Db): Rows => ({
  allocated: (db.prepare("SELECT prefix FROM ipam_allocations WHERE pool = 'p'").all() as { prefix: string }[]).map((r) => r.prefix),
  quarantined: db.prepare("SELECT prefix, reusable_at FROM ipam_quarantine WHERE pool = 'p'").all() as Rows['quarantined'],
});
const kept = (db: Db) => db.prepare("SELECT whole_allocated, whole_quarantined, split_units, split_quarantined, outside FROM ipam_pools WHERE pool = 'p'").get();

test('after random churn (sticky re-takes, adoptions, hold-downs passing, restarts with another length or parent) the figures are the blocks’ and the counts a recount’s', async () => {
  let checked = 0;
  const warned: object[] = [];
  await churn(
    {
      start: async (pool, now) => s.reopen([pool], { now, log: { warn: (fields) => void warned.push(fields) } }),
      rows: async () => rowsOf(s.db()),
      async check(pool) {
        // A recount from the rows, rolled back: what the triggers kept must be what it finds.
        const db = s.db();
        const before = kept(db);
        db.exec('SAVEPOINT recount');
        createPoolCounts(db).recount(checkPools([pool]).get('p')!);
        const after = kept(db);
        db.exec('ROLLBACK TO recount; RELEASE recount');
        assert.equal(before, after, 'kept counts = recount');
        checked++;
      },
    },
    500,
  );
  assert.is(checked, 500);
  // Each start with prefixes outside the parent said so, naming the parent moved from.
  assert.ok(warned.some((w) => JSON.stringify(w).startsWith('{"pool":"p","parent":"2001:db8:100::/44","moved_from":"2001:db8::/44","lifecycles":')), JSON.stringify(warned));
});

test('a database from before migration 015: its pools are counted at the first start, from the rows as they are', async () => {
  // The blocks of a walk, copied into a database that stopped at migration 013 (the embedded IPAM's
  // last schema before the counts), then opened as the service opens it.
  const pool: EmbeddedPool = { ...CONFIGS[0]!, sticky: false };
  const clock = { t: T0 };
  const source = createEmbeddedIpam(s.db(), [pool], { now: () => clock.t });
  const held: string[] = [];
  for (let i = 0; i < 40; i++) {
    const a = await allocate(source, `k${i}`, 'p', [56, 60, 52, 64][i % 4]!);
    if (i % 3 === 0) await release(source, `k${i}`, 'p', a.prefix);
    else if (i % 3 === 1) held.push(a.prefix);
  }
  for (const [i, prefix] of held.slice(0, 5).entries()) await quarantine(source, `k${i * 3 + 1}`, 'p', prefix);
  clock.t += 30_000;
  const expected = await source.utilization();

  const file = join(s.file(), '..', 'before-015.sqlite');
  const old = new Database(file);
  old.function('compact_snapshot', { deterministic: true, varargs: true }, compactSnapshotSql);
  const dir = join(import.meta.dirname, '../../../store/migrations');
  for (const f of readdirSync(dir).filter((f) => /^\d{3}-.+\.sql$/.test(f) && Number(f.slice(0, 3)) <= 13).sort()) old.exec(readFileSync(join(dir, f), 'utf8'));
  old.pragma('user_version = 13');
  for (const table of ['ipam_allocations', 'ipam_quarantine', 'ipam_free']) {
    const rows = s.db().prepare(`SELECT * FROM ${table}`).all() as Record<string, unknown>[];
    for (const r of rows) old.prepare(`INSERT INTO ${table} (${Object.keys(r).join(', ')}) VALUES (${Object.keys(r).map((k) => `@${k}`).join(', ')})`).run(r);
  }
  old.prepare("INSERT INTO ipam_pools (pool, parent) VALUES ('p', ?)").run(pool.prefix);
  old.close();

  const db = openDatabase(file);
  try {
    assert.equal(kept(db), { whole_allocated: 0, whole_quarantined: 0, split_units: 0, split_quarantined: 0, outside: 0 }, 'not counted by the migration');
    const ipam = createEmbeddedIpam(db, [pool], { now: () => clock.t });
    assert.equal(await ipam.utilization(), expected);
    assert.equal(expected[0]!.allocated, fromBlocks(pool, rowsOf(db), clock.t).allocated);
    assert.ok(expected[0]!.heldDown! > 0 && expected[0]!.allocated > expected[0]!.heldDown!, JSON.stringify(expected));
  } finally {
    db.close();
  }
});

test('a block is never moved in place: an update of its address is refused, so no figure drifts', async () => {
  const ipam = createEmbeddedIpam(s.db(), [CONFIGS[0]!]);
  const a = await allocate(ipam, 'a', 'p', 56);
  await quarantine(ipam, 'a', 'p', a.prefix);
  await allocate(ipam, 'b', 'p', 56);
  assert.throws(() => s.db().prepare("UPDATE ipam_allocations SET start_hex = '20010db8000000ff0000000000000000' WHERE key = 'b'").run(), /never moved in place/);
  assert.throws(() => s.db().prepare("UPDATE ipam_quarantine SET pool = 'q'").run(), /never moved in place/);
  // What a free does to a quarantined row (its times) is an update the counts do not depend on.
  await release(ipam, 'a', 'p', a.prefix);
  assert.equal((await ipam.utilization())[0]?.heldDown, 1);
});

test.run();
