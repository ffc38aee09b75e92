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
import type { SqlServer } from '../support/freeradius.ts';
import { mariadbAvailable, mariadbForFreeRadius, sqlText } from '../support/mariadb.ts';
import { postgresForFreeRadius, radiusPostgresAvailable } from '../support/radius-postgres.ts';
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
function againstServer(name: string, server: () => Promise<SqlServer>): void {
  let db: Promise<SqlServer> | null = null;
  replyContract(name, async (framedPrefix) => {
    const s = await (db ??= server());
    s.run('DELETE FROM radreply');
    const cfg = radiusConfigSchema.parse({
      sql: { backend: s.dialect, host: s.host, port: s.port, database: s.database, user: s.user, password_env: 'TEST_RADIUS_DB_PASSWORD' },
      reply: { framed_prefix: framedPrefix },
    });
    const store = await openRadiusReplies(cfg, pino({ level: 'silent' }), { TEST_RADIUS_DB_PASSWORD: s.password });
    return {
      port: store,
      seed: (r) => void s.run(`INSERT INTO radreply (username, attribute, op, value) VALUES (${[r.username, r.attribute, r.op, r.value].map(sqlText).join(', ')})`),
      rows: () => tsvRows(s.run('SELECT id, username, attribute, op, value FROM radreply ORDER BY id')),
      close: () => store.close(),
    };
  });
}

if (mariadbAvailable('RadiusReplyPort contract: MariaDB (FreeRADIUS schema)')) againstServer('MariaDB (FreeRADIUS schema)', mariadbForFreeRadius);
if (radiusPostgresAvailable('RadiusReplyPort contract: PostgreSQL (FreeRADIUS schema)')) againstServer('PostgreSQL (FreeRADIUS schema)', postgresForFreeRadius);

function tsvRows(out: string): ReplyRow[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [id, username, attribute, op, value] = l.split('\t');
      return { id: Number(id), username: username!, attribute: attribute!, op: op!, value: value! };
    });
}
