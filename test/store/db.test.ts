import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../store/db.ts';

const test = suite('store db');
const migrationsDir = join(import.meta.dirname, '../../store/migrations');
const migrations = readdirSync(migrationsDir).filter((f) => f.endsWith('.sql')).sort();
const latest = migrations.length;

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
  assert.equal(tables(db), ['audit', 'idempotency', 'ipam_allocations', 'ipam_free', 'ipam_pools', 'ipam_quarantine', 'lifecycles']);
});

test('openDatabase(file) → WAL, synchronous NORMAL, foreign keys on, a 5 s busy timeout', () => {
  const db = openFile();
  assert.is(db.pragma('journal_mode', { simple: true }), 'wal');
  assert.is(db.pragma('synchronous', { simple: true }), 1);
  assert.is(db.pragma('foreign_keys', { simple: true }), 1);
  assert.is(db.pragma('busy_timeout', { simple: true }), 5000);
  db.close();
  // WAL is a property of the file: another connection sees it too.
  const raw = new Database(join(dir, 'data', 'lifecycle.sqlite'));
  assert.is(raw.pragma('journal_mode', { simple: true }), 'wal');
  raw.close();
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
  // Foreign keys are on: an entry of a lifecycle that does not exist is refused.
  assert.throws(() => db.prepare("INSERT INTO audit (lifecycle_id, subscriber_id, at, type, to_state) VALUES ('none', 's', 'now', 'CREATED', 'pending')").run(), /FOREIGN KEY/);
});

test.run();
