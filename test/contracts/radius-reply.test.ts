import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { FakeRadiusReplyStore } from '../../services/radius/fake.ts';
import type { ReplyRow } from '../../services/radius/reply-attributes.ts';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { SqliteReplyStore } from '../../services/radius/reply-store.ts';
import { createRadiusReplyWorker } from '../../services/radius/reply-worker.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { replyContract } from '../support/radius-reply-contract.ts';

replyContract('fake', (framedPrefix) => {
  const fake = new FakeRadiusReplyStore({ framedPrefix });
  return { port: fake, seed: (r) => void fake.seed(r), rows: () => fake.rows.map((r) => ({ ...r })), close: () => undefined };
});

// The real store on a file made from FreeRADIUS's own schema.sql, as rlm_sql_sqlite would read it.
const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
if (peerAvailable('RadiusReplyPort contract: SQLite (FreeRADIUS schema)')) {
  replyContract('SQLite (FreeRADIUS schema)', (framedPrefix) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'radreply-'));
    const db = new Database(path.join(dir, 'radius.sqlite'));
    db.exec(readFileSync(SCHEMA, 'utf8'));
    const store = new SqliteReplyStore(db, { framedPrefix, log: pino({ level: 'silent' }) });
    return {
      port: store,
      seed: (r) => void db.prepare('INSERT INTO radreply (username, attribute, op, value) VALUES (@username, @attribute, @op, @value)').run(r),
      rows: () => db.prepare('SELECT id, username, attribute, op, value FROM radreply ORDER BY id').all() as ReplyRow[],
      close: () => {
        store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

// The same store run in a worker thread, as compose() wires it.
if (peerAvailable('RadiusReplyPort contract: SQLite from a worker thread')) {
  replyContract('SQLite from a worker thread', (framedPrefix) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'radreply-'));
    const file = path.join(dir, 'radius.sqlite');
    const db = new Database(file);
    db.exec(readFileSync(SCHEMA, 'utf8'));
    const store = createRadiusReplyWorker(radiusConfigSchema.parse({ sql: { path: file }, reply: { framed_prefix: framedPrefix } }), pino({ level: 'silent' }));
    return {
      port: store,
      seed: (r) => void db.prepare('INSERT INTO radreply (username, attribute, op, value) VALUES (@username, @attribute, @op, @value)').run(r),
      rows: () => db.prepare('SELECT id, username, attribute, op, value FROM radreply ORDER BY id').all() as ReplyRow[],
      close: async () => {
        await store.close();
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
