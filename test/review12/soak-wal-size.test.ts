// Review 12 (soak): a reader holding a snapshot (README "Backups": `sqlite3 <database> ".backup"`
// of a large file, an operator's shell) keeps checkpoints from resetting the WAL, so at 300 ops/s
// the -wal file grew from ~5 MB to 265 MB in 45 s, and kept that size for as long as the service
// ran: SQLite reuses a WAL file but never shrinks it unless `journal_size_limit` is set
// (https://www.sqlite.org/pragma.html#pragma_journal_size_limit). After the reader ends and the
// WAL restarts, the file is cut back to WAL_SIZE_LIMIT_BYTES.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, WAL_SIZE_LIMIT_BYTES, type Db } from '../../store/db.ts';
import { createIdempotencyStore } from '../../store/idempotency.ts';

const test = suite('review12: the -wal file is cut back once a long reader has let it grow');
const MiB = 1024 * 1024;
let dir: string;
let db: Db | null = null;
let reader: Database.Database | null = null;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'soak-wal-'));
});
test.after.each(() => {
  reader?.close();
  db?.close();
  reader = db = null;
  rmSync(dir, { recursive: true, force: true });
});

test('openDatabase(file): a WAL grown past the limit under a reader is cut back to it after the reader ends', () => {
  const file = join(dir, 'lifecycle.sqlite');
  db = openDatabase(file);
  const keys = createIdempotencyStore(db);
  const body = JSON.stringify({ filler: 'x'.repeat(64 * 1024) });
  let n = 0;
  const write = (count: number) => {
    for (let i = 0; i < count; i++) keys.put(`key-${n++}`, { request_hash: 'h', status: 200, body });
  };
  write(10);

  reader = new Database(file, { readonly: true });
  reader.exec('BEGIN');
  reader.prepare('SELECT count(*) FROM idempotency').get();
  const grownTo = WAL_SIZE_LIMIT_BYTES + 8 * MiB;
  while (statSync(`${file}-wal`).size < grownTo) write(50);
  reader.exec('COMMIT');
  reader.close();
  reader = null;

  // The next commits checkpoint everything (no reader now) and start the WAL over.
  write(200);
  const size = statSync(`${file}-wal`).size;
  assert.ok(size <= WAL_SIZE_LIMIT_BYTES, `-wal is ${(size / MiB).toFixed(1)} MiB after the reader ended, over the ${WAL_SIZE_LIMIT_BYTES / MiB} MiB limit`);
  assert.is(keys.get('key-0')?.status, 200);
  assert.is(keys.get(`key-${n - 1}`)?.status, 200);
});

test.run();
