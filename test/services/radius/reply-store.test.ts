import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { createRadiusReplyStore } from '../../../services/radius/reply-store.ts';
import { createRadiusReplyWorker } from '../../../services/radius/reply-worker.ts';

// Just the columns rlm_sql uses; the contract suite runs on FreeRADIUS's real schema.sql.
const MINI_SCHEMA = `
CREATE TABLE radreply (id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL DEFAULT '', attribute TEXT NOT NULL DEFAULT '', op CHAR(2) NOT NULL DEFAULT '=', value TEXT NOT NULL DEFAULT '');
CREATE TABLE radacct (radacctid INTEGER PRIMARY KEY AUTOINCREMENT, acctsessionid TEXT NOT NULL DEFAULT '', acctuniqueid TEXT NOT NULL DEFAULT '', username TEXT NOT NULL DEFAULT '', nasipaddress TEXT NOT NULL DEFAULT '', acctstarttime DATETIME, acctstoptime DATETIME, framedipv6prefix TEXT NOT NULL DEFAULT '', delegatedipv6prefix TEXT NOT NULL DEFAULT '');
CREATE INDEX reply_username ON radreply(username);
`;
const log = pino({ level: 'silent' });

const test = suite<{ dir: string }>('SQLite reply store: opening the FreeRADIUS file', { dir: '' });
test.before.each((ctx) => {
  ctx.dir = mkdtempSync(path.join(tmpdir(), 'radius-store-'));
});
test.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

const config = (sql: Record<string, unknown>) => radiusConfigSchema.parse({ sql });

test('createRadiusReplyStore refuses a missing file unless create_schema is on', (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  assert.throws(() => createRadiusReplyStore(config({ path: file }), log), /does not exist/);
});

test('createRadiusReplyStore refuses a file without FreeRADIUS tables, naming them', (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  new Database(file).close();
  assert.throws(() => createRadiusReplyStore(config({ path: file }), log), /radreply, radacct/);
});

test('create_schema runs the schema file once on a fresh file', async (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  const schema = path.join(ctx.dir, 'schema.sql');
  writeFileSync(schema, MINI_SCHEMA);
  const cfg = config({ path: file, create_schema: true, schema_file: schema });
  const store = createRadiusReplyStore(cfg, log);
  await store.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
  store.close();
  // Second open: tables exist, so the non-idempotent schema (bare CREATE INDEX) is not run again.
  const again = createRadiusReplyStore(cfg, log);
  again.close();
  const db = new Database(file);
  assert.equal(db.prepare('SELECT username, value FROM radreply').all(), [{ username: 'alice', value: '2001:db8:100::/56' }]);
  db.close();
});

test('create_schema refuses a half-made schema instead of guessing', (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  const db = new Database(file);
  db.exec(MINI_SCHEMA.split('\n')[1]!);
  db.close();
  assert.throws(() => createRadiusReplyStore(config({ path: file, create_schema: true }), log), /only part of FreeRADIUS's schema/);
});

test('the store sets a busy timeout and leaves the journal mode to FreeRADIUS', (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  const db = new Database(file);
  db.exec(MINI_SCHEMA);
  db.close();
  const store = createRadiusReplyStore(config({ path: file, busy_timeout_ms: 1234 }), log);
  const handle = (store as unknown as { db: Database.Database }).db;
  assert.is(handle.pragma('busy_timeout', { simple: true }), 1234);
  assert.is(handle.pragma('journal_mode', { simple: true }), 'delete');
  store.close();
});

test('a lock held past the busy timeout is a retryable upstream_unavailable', async (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  const holder = new Database(file);
  holder.exec(MINI_SCHEMA);
  const store = createRadiusReplyStore(config({ path: file, busy_timeout_ms: 50 }), log);
  holder.exec('BEGIN EXCLUSIVE');
  const started = Date.now();
  const err = await store.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null }).then(() => null, (e: unknown) => e);
  holder.exec('ROLLBACK');
  assert.instance(err, ServiceError);
  assert.is((err as ServiceError).code, 'upstream_unavailable');
  assert.is((err as ServiceError).retryable, true);
  assert.ok(Date.now() - started >= 40, 'waited for the busy timeout');
  // Once the lock is gone the same write goes through.
  await store.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
  assert.is((holder.prepare('SELECT count(*) AS n FROM radreply').get() as { n: number }).n, 1);
  store.close();
  holder.close();
});

// SQLite's file change counter (header bytes 24..27): one more per committed write transaction in a rollback-journal file.
const changeCounter = (file: string) => readFileSync(file).readUInt32BE(24);

const freshStore = (dir: string, busyMs = 2000) => {
  const file = path.join(dir, 'radius.sqlite');
  const db = new Database(file);
  db.exec(MINI_SCHEMA);
  db.close();
  return { file, store: createRadiusReplyStore(config({ path: file, busy_timeout_ms: busyMs }), log) };
};
const prefix = (i: number) => `2001:db8:${i.toString(16)}00::/56`;

test('the writes of one event-loop turn share one transaction, and each is on disk when its call resolves', async (ctx) => {
  const { file, store } = freshStore(ctx.dir);
  const before = changeCounter(file);
  await Promise.all(Array.from({ length: 40 }, (_, i) => store.writeReply({ username: `user-${i}`, delegatedPrefix: prefix(i + 1), framedPrefix: null })));
  assert.is(changeCounter(file) - before, 1, 'one commit for the 40 writes');
  const db = new Database(file, { readonly: true });
  assert.is((db.prepare('SELECT count(*) AS n FROM radreply').get() as { n: number }).n, 40);
  // A repeat in the next turn changes nothing, and a remove after a write in the same turn wins.
  const write = store.writeReply({ username: 'user-0', delegatedPrefix: prefix(1), framedPrefix: null });
  const remove = store.removeReply({ username: 'user-1' });
  await Promise.all([write, remove]);
  assert.equal(db.prepare('SELECT username FROM radreply WHERE username IN (?, ?) ORDER BY username').all('user-0', 'user-1'), [{ username: 'user-0' }]);
  db.close();
  store.close();
});

test('a write aborted while it waits for its turn rejects and writes nothing; the others of the turn stand', async (ctx) => {
  const { file, store } = freshStore(ctx.dir);
  const ac = new AbortController();
  const aborted = store.writeReply({ username: 'alice', delegatedPrefix: prefix(1), framedPrefix: null }, ac.signal).then(() => null, (e: unknown) => e);
  const other = store.writeReply({ username: 'bob', delegatedPrefix: prefix(2), framedPrefix: null });
  ac.abort(new Error('step cancelled'));
  assert.is(((await aborted) as Error | null)?.message, 'step cancelled');
  await other;
  const db = new Database(file, { readonly: true });
  assert.equal(db.prepare('SELECT username FROM radreply').all(), [{ username: 'bob' }]);
  db.close();
  store.close();
});

test('a lock held past the busy timeout fails every write of the turn as retryable, none half-done', async (ctx) => {
  const { file, store } = freshStore(ctx.dir, 50);
  const holder = new Database(file);
  holder.exec('BEGIN EXCLUSIVE');
  const errs = await Promise.all(
    [1, 2, 3].map((i) => store.writeReply({ username: `user-${i}`, delegatedPrefix: prefix(i), framedPrefix: null }).then(() => null, (e: unknown) => e)),
  );
  holder.exec('ROLLBACK');
  for (const err of errs) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).code, 'upstream_unavailable');
    assert.is((err as ServiceError).retryable, true);
  }
  assert.is((holder.prepare('SELECT count(*) AS n FROM radreply').get() as { n: number }).n, 0);
  holder.close();
  store.close();
});

test('from the worker thread, a lock held by FreeRADIUS does not hold the event loop, and the write still fails as retryable', async (ctx) => {
  const file = path.join(ctx.dir, 'radius.sqlite');
  const holder = new Database(file);
  holder.exec(MINI_SCHEMA);
  const store = createRadiusReplyWorker(config({ path: file, busy_timeout_ms: 300 }), log);
  holder.exec('BEGIN EXCLUSIVE');
  let turns = 0;
  const ticker = setInterval(() => turns++, 10);
  const err = await store.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null }).then(() => null, (e: unknown) => e);
  clearInterval(ticker);
  holder.exec('ROLLBACK');
  assert.ok(turns >= 5, `timers fired while SQLite waited for the lock (${turns})`);
  assert.instance(err, ServiceError);
  assert.is((err as ServiceError).code, 'upstream_unavailable');
  assert.is((err as ServiceError).retryable, true);
  await store.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
  assert.is((holder.prepare('SELECT count(*) AS n FROM radreply').get() as { n: number }).n, 1);
  await store.close();
  holder.close();
});

test.run();
