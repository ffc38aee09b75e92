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
import { openRadiusReplies } from '../../services/radius/backends.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { mariadbAvailable, sharedMariaDb, sqlText } from '../support/mariadb.ts';
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

// The server backends over FreeRADIUS's shipped schemas, as openRadiusReplies() opens them (login,
// table check, pool), with a password user; the back door is the server's own command-line client.
if (mariadbAvailable('RadiusReplyPort contract: MariaDB (FreeRADIUS schema)')) {
  replyContract('MariaDB (FreeRADIUS schema)', async (framedPrefix) => {
    const db = await sharedMariaDb();
    db.sql('DELETE FROM radreply');
    const env = { TEST_RADIUS_DB_PASSWORD: db.password };
    const cfg = radiusConfigSchema.parse({
      sql: { backend: 'mysql', host: db.host, port: db.port, database: db.database, user: db.user, password_env: 'TEST_RADIUS_DB_PASSWORD' },
      reply: { framed_prefix: framedPrefix },
    });
    const store = await openRadiusReplies(cfg, pino({ level: 'silent' }), env);
    return {
      port: store,
      seed: (r) => void db.sql(`INSERT INTO radreply (username, attribute, op, value) VALUES (${[r.username, r.attribute, r.op, r.value].map(sqlText).join(', ')})`),
      rows: () => tsvRows(db.sql('SELECT id, username, attribute, op, value FROM radreply ORDER BY id')),
      close: () => store.close(),
    };
  });
}

function tsvRows(out: string): ReplyRow[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [id, username, attribute, op, value] = l.split('\t');
      return { id: Number(id), username: username!, attribute: attribute!, op: op!, value: value! };
    });
}
