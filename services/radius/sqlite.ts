// Opening the SQLite file that FreeRADIUS reads through rlm_sql_sqlite. The file and its schema
// belong to FreeRADIUS: we set our own busy timeout, never change the journal mode, and create
// the schema only when configured to, from FreeRADIUS's own schema.sql.
import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import type { Logger } from 'pino';
import { ServiceError } from '../errors.ts';
import { readConfiguredFile, type SqliteSqlConfig } from './config.ts';

export type RadiusDb = Database.Database;

const REQUIRED_TABLES = ['radreply', 'radacct'] as const;

/** Opens FreeRADIUS's SQLite database; throws at start-up when its tables are missing. */
export function openRadiusSqlite(cfg: SqliteSqlConfig, log: Logger): RadiusDb {
  if (!cfg.create_schema && !existsSync(cfg.path)) {
    throw new Error(`radius.sql.path ${cfg.path} does not exist (set create_schema: true to create a fresh file)`);
  }
  // A start that fails leaves no file behind (README, "Failed starts"), this one included.
  const created = !existsSync(cfg.path);
  const db = new Database(cfg.path, { fileMustExist: !cfg.create_schema });
  try {
    db.pragma(`busy_timeout = ${cfg.busy_timeout_ms}`);
    let missing = missingTables(db);
    if (missing.length > 0 && cfg.create_schema) {
      if (missing.length < REQUIRED_TABLES.length) {
        // schema.sql is not idempotent (bare CREATE INDEX), so a half-made schema is an operator's call.
        throw new Error(`radius.sql.path ${cfg.path} has only part of FreeRADIUS's schema (missing ${missing.join(', ')})`);
      }
      const sql = readConfiguredFile('radius.sql.schema_file', cfg.schema_file);
      db.transaction(() => db.exec(sql)).immediate();
      log.info({ path: cfg.path, schema_file: cfg.schema_file }, 'created the FreeRADIUS SQL schema');
      missing = missingTables(db);
    }
    if (missing.length > 0) {
      throw new Error(`radius.sql.path ${cfg.path} lacks FreeRADIUS's tables ${missing.join(', ')} (create_schema is off)`);
    }
    return db;
  } catch (err) {
    db.close();
    if (created) for (const f of [cfg.path, `${cfg.path}-journal`]) rmSync(f, { force: true });
    throw err;
  }
}

/** Maps a SQLite failure to a ServiceError: a held lock is worth retrying, anything else is not. */
export function sqliteFailure(err: unknown, what: string): ServiceError {
  const code = (err as { code?: unknown }).code;
  const busy = code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'));
  const message = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  return new ServiceError('upstream_unavailable', message, { retryable: busy, cause: err });
}

function missingTables(db: RadiusDb): string[] {
  const present = new Set(
    (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name),
  );
  return REQUIRED_TABLES.filter((t) => !present.has(t));
}
