// Migration 018 (issue 10, database size): the embedded IPAM's blocks stored in fewer bytes
// (ipam_blocks), read back through the `ipam_allocations` view as the text written, whoever wrote
// them: the migration from the table before it, the IPAM (services/ipam/embedded-blocks.ts) or SQL
// through the view. One key is one block under either of its spellings.
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../../store/db.ts';
import { compactSnapshotSql } from '../../../store/snapshot-codec.ts';
import { createBlocks, decodeKey, encodeKey } from '../../../services/ipam/embedded-blocks.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';

const test = suite('ipam: ipam_blocks (migration 018)');
const migrationsDir = join(import.meta.dirname, '../../../store/migrations');

let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'ipam-018-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

/** A database file at migration 017, the schema before this one. */
function at017(file: string): Db {
  const db = new Database(file);
  db.function('compact_snapshot', { deterministic: true, varargs: true }, compactSnapshotSql);
  for (const f of readdirSync(migrationsDir).filter((f) => /^\d{3}-.+\.sql$/.test(f)).sort()) {
    if (Number(f.slice(0, 3)) > 17) break;
    db.exec(readFileSync(join(migrationsDir, f), 'utf8'));
  }
  db.pragma('user_version = 17');
  return db;
}

const UUID = (n: number) => `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const hex = (n: number) => `20010db8${n.toString(16).padStart(4, '0')}${'0'.repeat(20)}`;
const end = (n: number) => `20010db8${n.toString(16).padStart(4, '0')}${'f'.repeat(20)}`;

/** Blocks of every spelling: the step key of a UUID lifecycle and of another id, keys of other forms, other times. */
const ROWS = [
  { lifecycle_id: UUID(1), key: `${UUID(1)}:allocate:0`, allocated_at: '2026-12-03T09:06:08.511Z' },
  { lifecycle_id: UUID(2), key: `${UUID(2)}:allocate:7`, allocated_at: '1970-01-01T00:00:00.000Z' },
  { lifecycle_id: UUID(3), key: `${UUID(3)}:allocate:123456789012345`, allocated_at: '9999-12-31T23:59:59.999Z' },
  { lifecycle_id: UUID(4), key: `${UUID(4)}:allocate:1234567890123456`, allocated_at: '2026-12-03 09:06:08' },
  { lifecycle_id: UUID(5), key: `${UUID(5)}:allocate:01`, allocated_at: '2026-12-03T09:06:08.511+00:00' },
  { lifecycle_id: UUID(6), key: `${UUID(6)}:allocate:-1`, allocated_at: '1969-12-31T23:59:59.999Z' },
  { lifecycle_id: UUID(7), key: `${UUID(7)}:allocate:`, allocated_at: 'later' },
  { lifecycle_id: UUID(8), key: `${UUID(9)}:allocate:0`, allocated_at: '2026-12-03T09:06:08.511Z' },
  { lifecycle_id: UUID(10).toUpperCase(), key: `${UUID(10).toUpperCase()}:allocate:3`, allocated_at: '2026-12-03T09:06:08.511Z' },
  { lifecycle_id: 'lc-a', key: 'lc-a:allocate:2', allocated_at: '2026-12-03T09:06:08.511Z' },
  { lifecycle_id: 'lc-b', key: 'held', allocated_at: '2026-12-03T09:06:08.511Z' },
  { lifecycle_id: 'lc-ü:allocate:x', key: 'lc-ü:allocate:x:allocate:4', allocated_at: '2026-12-03T09:06:08.511Z' },
].map((r, i) => ({ pool: 'documentation', start_hex: hex(i + 1), end_hex: end(i + 1), prefix: `2001:db8:${(i + 1).toString(16)}::/48`, prefix_length: 48, subscriber_id: `s-${i}`, ...r }));

const COLUMNS = 'pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at';
const insertSql = `INSERT INTO ipam_allocations (${COLUMNS}) VALUES (${COLUMNS.split(', ').map((c) => `@${c}`).join(', ')})`;
const read = (db: Db) => db.prepare(`SELECT ${COLUMNS} FROM ipam_allocations ORDER BY pool, start_hex`).all();

test('the migration keeps every block as it read, in fewer bytes where the text allows, and the pool figures as counted', () => {
  const file = join(dir, 'db.sqlite');
  const old = at017(file);
  old.prepare("INSERT INTO ipam_pools (pool, parent, first_hex, last_hex, unit_length) VALUES ('documentation', '2001:db8::/32', ?, ?, 48)").run(hex(0), end(0xffff));
  const insert = old.prepare(insertSql);
  for (const r of ROWS) insert.run(r);
  const before = read(old);
  const figures = old.prepare('SELECT * FROM ipam_pools').all();
  old.close();

  const db = openDatabase(file);
  assert.equal(read(db), before, 'every column reads back as the text it was');
  assert.equal(db.prepare('SELECT * FROM ipam_pools').all(), figures, 'the counts of migration 015 are not counted again');
  const stored = db.prepare('SELECT typeof(lifecycle_id) AS lid, typeof(key_gen) AS key, typeof(allocated_at) AS at FROM ipam_blocks ORDER BY start_hex').all();
  assert.equal(stored, [
    { lid: 'blob', key: 'integer', at: 'integer' },
    { lid: 'blob', key: 'integer', at: 'integer' },
    { lid: 'blob', key: 'integer', at: 'integer' },
    { lid: 'blob', key: 'text', at: 'text' },
    { lid: 'blob', key: 'text', at: 'text' },
    { lid: 'blob', key: 'text', at: 'text' },
    { lid: 'blob', key: 'text', at: 'text' },
    { lid: 'blob', key: 'text', at: 'integer' },
    { lid: 'text', key: 'integer', at: 'integer' },
    { lid: 'text', key: 'integer', at: 'integer' },
    { lid: 'text', key: 'text', at: 'integer' },
    { lid: 'text', key: 'integer', at: 'integer' },
  ]);
  // The figures follow writes on the new table as they did on the old one.
  db.prepare("DELETE FROM ipam_allocations WHERE subscriber_id = 's-0'").run();
  assert.is((db.prepare('SELECT whole_allocated AS n FROM ipam_pools').get() as { n: number }).n, (figures[0] as { whole_allocated: number }).whole_allocated - 1);
  assert.throws(() => db.prepare(`UPDATE ipam_allocations SET start_hex = '${hex(99)}' WHERE subscriber_id = 's-1'`).run(), /never moved in place/);
  assert.throws(() => db.prepare(`UPDATE ipam_allocations SET key = 'other' WHERE subscriber_id = 's-1'`).run(), /not changed in place/);
  db.close();
});

test('what the IPAM writes reads back through the view, and what SQL writes through the view the IPAM reads, as the same text', () => {
  const db = openDatabase(join(dir, 'db.sqlite'));
  const blocks = createBlocks(db);
  const [viaCode, viaSql] = [ROWS.filter((_, i) => i % 2 === 0), ROWS.filter((_, i) => i % 2 === 1)];
  for (const r of viaCode) blocks.insert(r);
  const insert = db.prepare(insertSql);
  for (const r of viaSql) insert.run(r);
  const expected = ROWS.map(({ pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at }) => ({ pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at }));
  assert.equal(read(db), expected, 'the view reads every block as written');
  assert.equal(blocks.all(), ROWS.map((r) => ({ pool: r.pool, prefix: r.prefix, lifecycleId: r.lifecycle_id, key: r.key })), 'the IPAM reads every block as written');
  for (const r of ROWS) {
    assert.equal(blocks.byKey(r.key, r.lifecycle_id), { pool: r.pool, prefix: r.prefix, prefix_length: r.prefix_length, lifecycle_id: r.lifecycle_id }, `found under ${r.key}`);
    // The SQL's spelling is the code's: the stored form of each key is the one encodeKey() gives.
    const kind = (db.prepare('SELECT typeof(key_gen) AS t FROM ipam_blocks WHERE start_hex = ?').get(r.start_hex) as { t: string }).t;
    assert.is(kind, typeof encodeKey(r.key, r.lifecycle_id) === 'bigint' ? 'integer' : 'text', r.key);
    assert.is(decodeKey(encodeKey(r.key, r.lifecycle_id), r.lifecycle_id), r.key);
  }
  // Another lifecycle's key of the step form is found under its own text by the lifecycle that holds it, and the other.
  assert.is(blocks.byKey(`${UUID(9)}:allocate:0`, UUID(9))?.lifecycle_id, UUID(8));
  assert.is(blocks.byKey(`${UUID(1)}:allocate:0`, UUID(8))?.lifecycle_id, UUID(1));
  assert.is(blocks.byKey(`${UUID(1)}:allocate:1`, UUID(1)), undefined);
  db.close();
});

test('one key is one block under either spelling: the view refuses a second, the IPAM answers the holder', async () => {
  const db = openDatabase(join(dir, 'db.sqlite'));
  const insert = db.prepare(insertSql);
  insert.run(ROWS[0]);
  // The same key text, from another lifecycle (so spelled as text), and the other way round.
  assert.throws(() => insert.run({ ...ROWS[1], key: ROWS[0]!.key }), /UNIQUE constraint failed: ipam_allocations.key/);
  insert.run({ ...ROWS[1], key: `${UUID(20)}:allocate:0` });
  assert.throws(() => insert.run({ ...ROWS[2], lifecycle_id: UUID(20), key: `${UUID(20)}:allocate:0` }), /UNIQUE constraint failed: ipam_allocations.key/);
  assert.is(db.prepare('SELECT count(*) AS n FROM ipam_blocks').pluck().get(), 2);

  const ipam = createEmbeddedIpam(db, [{ name: 'documentation', prefix: '2001:db8::/32', prefixLength: 56 }]);
  const cmd = { pool: 'documentation', prefixLength: 56, subscriberId: 's', key: `${UUID(30)}:allocate:0`, lifecycleId: UUID(30) };
  const first = await ipam.allocate(cmd);
  assert.equal(await ipam.allocate(cmd), first, 'the same key again: the same block');
  let refused: unknown;
  await ipam.allocate({ ...cmd, lifecycleId: UUID(31) }).catch((e: unknown) => (refused = e));
  assert.match(String((refused as Error)?.message), new RegExp(UUID(30)), 'another lifecycle asking under the key is refused, naming the holder');
  assert.equal(await ipam.allocatedUnder({ key: cmd.key, lifecycleId: UUID(30), pool: cmd.pool }), [first]);
  assert.equal(await ipam.allocatedUnder({ key: cmd.key, lifecycleId: UUID(31), pool: cmd.pool }), []);
  db.close();
});

test.run();
