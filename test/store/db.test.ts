import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BUSY_TIMEOUT_MS, openDatabase, openStore, StoreError, type Db } from '../../store/db.ts';

const test = suite('store db');
const migrationsDir = join(import.meta.dirname, '../../store/migrations');
const migrations = readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort();
// The highest number, not the count: a branch may carry a later migration before an earlier one has landed.
const latest = Number(migrations.at(-1)!.slice(0, 3));

let dir: string;
const open: Db[] = [];
/** Opens the database file of this test (under a folder that does not exist yet). */
const openFile = (): Db => {
  const db = openDatabase(join(dir, 'data', 'lifecycle.sqlite'));
  open.push(db);
  return db;
};
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'store-db-'));
});
test.after.each(() => {
  for (const db of open.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const tables = (db: Db) =>
  (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);

test('migrations are numbered 001, 002, … without a gap or a number used twice', () => {
  assert.ok(latest >= 3, `only ${latest} migrations found`);
  assert.equal(
    migrations.map((f) => f.slice(0, 4)),
    migrations.map((_, i) => `${String(i + 1).padStart(3, '0')}-`),
    `every migration file is NNN-name.sql, numbered from 001 up: ${migrations.join(', ')}`,
  );
});

test('openDatabase(file) → creates the folder and the file, runs every migration, and records the last number', () => {
  const db = openFile();
  assert.is(db.pragma('user_version', { simple: true }), latest);
  assert.equal(tables(db), ['audit_log', 'audit_prune_cut', 'audit_words', 'idempotency', 'ipam_blocks', 'ipam_free', 'ipam_pools', 'ipam_quarantine', 'ipam_split_units', 'lifecycle_counts', 'lifecycles', 'pool_tally', 'prefix_leaks', 'reconciliation_discrepancies', 'reconciliation_runs', 'shared_prefixes']);
  // Migrations 013 and 018: the trail and the IPAM's blocks are stored encoded (audit_log, ipam_blocks)
  // and read (and written) as text through these views.
  assert.equal(db.prepare("SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name").all(), [{ name: 'audit' }, { name: 'ipam_allocations' }]);
});

test('openDatabase(file) → WAL, synchronous NORMAL, foreign keys on, a busy timeout short enough not to stall the event loop', () => {
  const db = openFile();
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(db.pragma('synchronous', { simple: true }), 1);
  assert.is(db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(db.pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS);
  assert.ok(BUSY_TIMEOUT_MS <= 100, 'a busy wait blocks the event loop for this long');
  db.close();
  // WAL is a property of the file: another connection sees it too.
  const raw = new Database(join(dir, 'data', 'lifecycle.sqlite'));
  assert.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
});

test('openDatabase(file) → savepoint and statement journals in memory (temp_store MEMORY), not spilled to a file per batch', () => {
  const db = openFile();
  assert.is(db.pragma('temp_store', { simple: true }), 2);
  db.close();
});

test('openDatabase(file) again → runs no migration twice, and the data stays', () => {
  const first = openFile();
  first.prepare("INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES ('k', 'h', 200, '{}', 'now')").run();
  first.close();
  // A migration run again would fail: CREATE TABLE of a table that exists.
  const again = openFile();
  assert.is(again.pragma('user_version', { simple: true }), latest);
  assert.equal(again.prepare('SELECT key FROM idempotency').all(), [{ key: 'k' }]);
  again.close();
  assert.not.throws(() => openFile().close());
});

test('openDatabase(file) on a database at an older version → runs only the migrations after it', () => {
  const file = join(dir, 'old.sqlite');
  const raw = new Database(file);
  raw.exec(readFileSync(join(migrationsDir, migrations[0]!), 'utf8'));
  raw.pragma('user_version = 1');
  raw.prepare("INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES ('k', 'h', 200, '{}', 'now')").run();
  raw.close();
  const db = openDatabase(file);
  open.push(db);
  assert.is(db.pragma('user_version', { simple: true }), latest);
  assert.ok(tables(db).includes('ipam_quarantine'), 'the later migrations ran');
  assert.equal(db.prepare('SELECT key FROM idempotency').all(), [{ key: 'k' }]);
});

test('the audit trail is append-only: no update, no delete', () => {
  const db = openFile();
  db.prepare(
    "INSERT INTO lifecycles (id, subscriber_id, state, pool, prefix_length, created_at, updated_at, snapshot) VALUES ('l', 's', 'pending', 'p', 56, 'now', 'now', '{}')",
  ).run();
  db.prepare("INSERT INTO audit (lifecycle_id, subscriber_id, at, type, to_state) VALUES ('l', 's', 'now', 'CREATED', 'pending')").run();
  assert.throws(() => db.prepare("UPDATE audit SET type = 'X'").run(), /append-only/);
  assert.throws(() => db.prepare('DELETE FROM audit').run(), /append-only/);
  // An entry of a lifecycle that does not exist is refused (migration 007: a trigger, no longer a
  // foreign key, so that retention may delete the lifecycle and keep its trail).
  assert.throws(() => db.prepare("INSERT INTO audit (lifecycle_id, subscriber_id, at, type, to_state) VALUES ('none', 's', 'now', 'CREATED', 'pending')").run(), /unknown lifecycle/);
});

test('openStore(file) → one holder per file: a second open is refused naming the file and the PID; it is free again after close()', () => {
  const file = join(dir, 'data', 'one.sqlite');
  const first = openStore(file);
  assert.ok(first.fresh, 'the file was created by this open');
  const refused = (() => {
    try {
      openStore(file).close();
      return null;
    } catch (err) {
      return err as StoreError;
    }
  })();
  assert.ok(refused instanceof StoreError, 'the second open is refused');
  assert.is(refused.reason, 'locked');
  assert.match(refused.message, file);
  assert.match(refused.message, `PID ${process.pid}`);
  // The refused open took nothing away from the holder.
  first.db.prepare("INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES ('k', 'h', 200, '{}', 'now')").run();
  first.close();
  const again = openStore(file);
  assert.not.ok(again.fresh, 'the file is there from the first open');
  assert.equal(again.db.prepare('SELECT key FROM idempotency').all(), [{ key: 'k' }]);
  again.close();
});

test('openStore(file) on a file that is not a database → StoreError naming the file; the file is left as it was', () => {
  const file = join(dir, 'garbage.sqlite');
  writeFileSync(file, 'this is not a SQLite database, it is a shopping list: eggs, milk, bread, more eggs\n'.repeat(20));
  const before = readFileSync(file, 'utf8');
  assert.throws(() => openStore(file), (err: unknown) => err instanceof StoreError && err.reason === 'corrupt' && err.message.includes(file));
  assert.is(readFileSync(file, 'utf8'), before);
  assert.equal(readdirSync(dir).sort(), ['garbage.sqlite'], 'no lock file or journal left behind');
});

test('openStore(file) that fails after creating files, and discard() → neither leaves a file or folder behind', () => {
  const file = join(dir, 'new', 'deeper', 'x.sqlite');
  const store = openStore(file);
  assert.ok(existsSync(file));
  store.discard();
  assert.equal(readdirSync(dir), [], 'the folders it created are gone too');
  // An existing database is never removed by discard(): it was not this start's.
  const kept = openStore(join(dir, 'kept.sqlite'));
  kept.close();
  openStore(join(dir, 'kept.sqlite')).discard();
  assert.ok(existsSync(join(dir, 'kept.sqlite')));
});

test.run();
