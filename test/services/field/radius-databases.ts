// FreeRADIUS's database on each backend the field reader runs on, behind one face, so its contract
// (radius.test.ts) runs the same cases on all three: SQLite's file made from FreeRADIUS's schema, and
// fresh databases with FreeRADIUS's own schemas on the throw-away PostgreSQL and MariaDB servers.
// `run` is the back door (as FreeRADIUS would write); the reader goes through openRadiusField, as
// compose opens it.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { suite, type Test } from 'uvu';
import { openRadiusField } from '../../../services/field/radius-backends.ts';
import type { RadiusFieldReader } from '../../../services/field/radius.ts';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { peerAvailable } from '../../support/freeradius.ts';
import { mariadbAvailable, mariadbForFreeRadius, sharedMariaDb } from '../../support/mariadb.ts';
import { postgresForFreeRadius, psql, radiusPostgresAvailable } from '../../support/radius-postgres.ts';

const SQLITE_SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
const log = pino({ level: 'silent' });

export interface FieldDb {
  /** Runs statements in FreeRADIUS's database, as an administrator. */
  run(sql: string): void;
  /** A SQL literal for a radacct time given in UTC (`2026-01-01 00:00:00`), written as FreeRADIUS writes it there. */
  time(utc: string): string;
  /** What the schema holds for "no prefix": '' (SQLite's text, MySQL's NOT NULL varchar) or NULL (PostgreSQL's inet). */
  none: string;
  /** True when nasipaddress is text, where a NAS's stray space survives (PostgreSQL's inet has none). */
  textNas: boolean;
  /** True when the schema compares usernames without case (MySQL's collation), as FreeRADIUS's lookup there does. */
  caseInsensitive: boolean;
  /** Puts the server in a time zone far from UTC, where one runs (a time read as local would be off by hours). */
  farTimeZone(): void;
  /** Drops the 3.2 IPv6 columns and acctupdatetime from radacct: an older FreeRADIUS schema. */
  legacyRadacct(): void;
  /** True when FreeRADIUS's stock schema has an index that walks radreply in (username, id) order (not MySQL's username(32)). */
  stockIndexOrders: boolean;
  /** A reader as compose opens it (its own connection), logging to `log` (silent by default). */
  reader(log?: Logger): RadiusFieldReader;
  done(): Promise<void>;
}

export interface FieldBackend {
  name: string;
  /** False (with a banner, or a failing suite under CI=true) when the backend cannot run here. */
  available(suiteName: string): boolean;
  open(): Promise<FieldDb>;
}

const serverConfig = (backend: 'postgresql' | 'mysql', db: { host: string; port: number; database: string; user: string }) =>
  radiusConfigSchema.parse({ sql: { backend, host: db.host, port: db.port, database: db.database, user: db.user, password_env: 'FIELD_DB_PW', connect_timeout_ms: 5000 } });

export const FIELD_BACKENDS: FieldBackend[] = [
  {
    name: 'SQLite',
    available: peerAvailable,
    async open() {
      const dir = mkdtempSync(path.join(tmpdir(), 'field-radius-'));
      const file = path.join(dir, 'radius.sqlite');
      const db = new Database(file);
      db.exec(readFileSync(SQLITE_SCHEMA, 'utf8'));
      const readers: RadiusFieldReader[] = [];
      return {
        run: (sql) => void db.exec(sql),
        time: (utc) => `'${utc}'`,
        none: "''",
        textNas: true,
        caseInsensitive: false,
        farTimeZone: () => undefined, // SQLite keeps the text as written
        legacyRadacct() {
          db.exec(`DROP TABLE radacct; CREATE TABLE radacct (radacctid INTEGER PRIMARY KEY, acctsessionid TEXT, acctuniqueid TEXT, username TEXT,
                   nasipaddress TEXT, acctstarttime TEXT, acctstoptime TEXT)`);
        },
        stockIndexOrders: true,
        reader(to = log) {
          const r = openRadiusField(radiusConfigSchema.parse({ sql: { path: file } }), to);
          readers.push(r);
          return r;
        },
        async done() {
          for (const r of readers) await r.close();
          db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    available: radiusPostgresAvailable,
    async open() {
      const db = await postgresForFreeRadius();
      const readers: RadiusFieldReader[] = [];
      return {
        run: (sql) => void psql(db.adminUrl, sql),
        time: (utc) => `'${utc}+00'`,
        none: 'NULL',
        textNas: false,
        caseInsensitive: false,
        // The reader's sessions take the database's zone: a time formatted in it would read 09:00 for 00:00 UTC.
        farTimeZone: () => void psql(db.adminUrl, `ALTER DATABASE ${db.database} SET timezone = 'Asia/Tokyo'`),
        legacyRadacct: () => void psql(db.adminUrl, 'ALTER TABLE radacct DROP COLUMN framedipv6prefix, DROP COLUMN delegatedipv6prefix, DROP COLUMN acctupdatetime'),
        stockIndexOrders: true,
        reader(to = log) {
          const r = openRadiusField(serverConfig('postgresql', db), to, { FIELD_DB_PW: db.password });
          readers.push(r);
          return r;
        },
        async done() {
          for (const r of readers) await r.close();
        },
      };
    },
  },
  {
    name: 'MariaDB',
    available: mariadbAvailable,
    async open() {
      const db = await mariadbForFreeRadius();
      const server = await sharedMariaDb();
      const readers: RadiusFieldReader[] = [];
      let zoned = false;
      return {
        run: (sql) => void db.run(sql),
        // As rlm_sql_mysql's queries write it: FROM_UNIXTIME, in the session's (the server's) zone.
        time: (utc) => `FROM_UNIXTIME(${Date.parse(`${utc.replace(' ', 'T')}Z`) / 1000})`,
        none: "''",
        textNas: true,
        caseInsensitive: true,
        // Every new session (FreeRADIUS's, the reader's, the back door's) in +09:00; DATETIME keeps no zone.
        farTimeZone() {
          server.sql(`SET GLOBAL time_zone = '+09:00'`);
          zoned = true;
        },
        legacyRadacct: () => void db.run('ALTER TABLE radacct DROP COLUMN framedipv6prefix, DROP COLUMN delegatedipv6prefix, DROP COLUMN acctupdatetime'),
        stockIndexOrders: false,
        reader(to = log) {
          const r = openRadiusField(serverConfig('mysql', db), to, { FIELD_DB_PW: db.password });
          readers.push(r);
          return r;
        },
        async done() {
          for (const r of readers) await r.close();
          if (zoned) server.sql(`SET GLOBAL time_zone = 'SYSTEM'`);
        },
      };
    },
  },
];

/**
 * One suite per backend that can run here (all, or those `only` names), each test given a fresh
 * database and reader on it (`ctx.db`); call `.run()` on each after adding the tests.
 */
export function fieldSuites(title: (backend: string) => string, only?: string[]): Test<{ db: FieldDb }>[] {
  return FIELD_BACKENDS.filter((b) => !only || only.includes(b.name)).flatMap((backend) => {
    const name = title(backend.name);
    if (!backend.available(name)) return [];
    const test = suite<{ db: FieldDb }>(name, {} as { db: FieldDb });
    test.before.each(async (ctx) => {
      ctx.db = await backend.open();
    });
    test.after.each(async (ctx) => {
      await ctx.db.done();
    });
    return [test];
  });
}
