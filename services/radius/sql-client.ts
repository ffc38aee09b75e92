// One small query interface over `pg` and `mysql2`, so the radreply and radacct code is written
// once: `?` placeholders (numbered for PostgreSQL here), a bounded pool, a statement timeout on
// every query, TLS, and one place that turns a driver error into a ServiceError. The password (or
// the whole URL) comes from the environment at open and is scrubbed from every message we build.
import mysql from 'mysql2/promise';
import pg from 'pg';
import { ServiceError } from '../errors.ts';
import { readConfiguredFile, type ServerSqlConfig } from './config.ts';
import { checkout } from '../../store/postgresql/pool.ts';

export type Dialect = 'postgresql' | 'mysql';
export type Row = Record<string, unknown>;

/** Runs statements on one connection (inside a transaction) or on any pooled one. */
export interface Queryable {
  query<R extends object = Row>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affected: number }>;
}

export interface SqlClient extends Queryable {
  readonly dialect: Dialect;
  /** Where it connects, without credentials: for messages. */
  readonly target: string;
  /** `fn` in one transaction on one connection: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  /** Runs a whole schema file (several statements). */
  exec(script: string): Promise<void>;
  /** The driver error as a ServiceError, secrets removed. */
  failure(err: unknown, what: string): ServiceError;
  close(): Promise<void>;
}

// Faults after which the same statement may well succeed: the connection went (a restart, a
// failover), the server is starting or overloaded, a deadlock or serialization victim, a timeout.
const PG_RETRYABLE = new Set(['40001', '40P01', '55P03', '57014', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);
const MYSQL_RETRYABLE = new Set([
  'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED',
  'ER_STATEMENT_TIMEOUT', 'ER_CLIENT_INTERACTION_TIMEOUT', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_GET_CONNECTION_TIMEOUT',
]);
const NET_RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTCONN']);
// pg reports a dropped socket or a timed-out query without a code.
const PG_TRANSIENT_TEXT = /Connection terminated|connection timeout|Query read timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i;

// A server refusing writes for now: a primary demoted to a hot standby (25006), MySQL/MariaDB's
// read_only or super_read_only while a replica is promoted, InnoDB's read-only mode. A failover.
const MYSQL_READ_ONLY = new Set(['ER_READ_ONLY_MODE', 'ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION']);

/** True when `err` says the server takes no writes now (see MYSQL_READ_ONLY). */
export function isReadOnlySqlError(dialect: Dialect, err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (dialect === 'postgresql') return code === '25006';
  // ER_OPTION_PREVENTS_STATEMENT names other options too (--secure-file-priv, …): only --read-only counts.
  return MYSQL_READ_ONLY.has(code) || (code === 'ER_OPTION_PREVENTS_STATEMENT' && /read[-_]only/i.test(String((err as Error)?.message)));
}

/** True when `err` is a fault worth retrying for `dialect`. */
export function isTransientSqlError(dialect: Dialect, err: unknown): boolean {
  const code = String((err as { code?: unknown })?.code ?? '');
  if (NET_RETRYABLE.has(code) || isReadOnlySqlError(dialect, err)) return true;
  if (dialect === 'postgresql') return PG_RETRYABLE.has(code) || (code === '' && PG_TRANSIENT_TEXT.test(String((err as Error)?.message)));
  return MYSQL_RETRYABLE.has(code) || (err as { fatal?: boolean })?.fatal === true && code.startsWith('PROTOCOL_');
}

/** The secrets of `cfg` from `env`; throws naming the variable (never its value) when one is unset. */
function secrets(cfg: ServerSqlConfig, env: NodeJS.ProcessEnv): { url: string | null; password: string | null } {
  const read = (name: string | undefined, key: string) => {
    if (name === undefined) return null;
    const v = env[name];
    if (v === undefined || v === '') throw new Error(`radius.sql.${key}: environment variable ${name} is not set`);
    return v;
  };
  return { url: read(cfg.url_env, 'url_env'), password: read(cfg.password_env, 'password_env') };
}

function tlsOptions(cfg: ServerSqlConfig): { rejectUnauthorized: boolean; ca?: string; servername?: string } | null {
  if (cfg.tls.mode === 'disable') return null;
  return {
    rejectUnauthorized: cfg.tls.mode === 'verify',
    ...(cfg.tls.ca_file ? { ca: readConfiguredFile('radius.sql.tls.ca_file', cfg.tls.ca_file) } : {}),
    ...(cfg.tls.servername ? { servername: cfg.tls.servername } : {}),
  };
}

/** Opens a pool for a postgresql or mysql `radius.sql`; connects lazily (verify with `checkRadiusTables`). */
export function openSqlClient(cfg: ServerSqlConfig, env: NodeJS.ProcessEnv = process.env): SqlClient {
  const dialect: Dialect = cfg.backend;
  const { url, password } = secrets(cfg, env);
  const scrub = (text: string) => {
    let out = text;
    for (const s of [url, password]) if (s) out = out.split(s).join('***');
    if (url) out = out.replace(/\/\/[^@/\s]*@/g, '//***@');
    return out;
  };
  const target = url ? `${dialect} (url from ${cfg.url_env})` : `${dialect} ${cfg.user}@${cfg.host}:${cfg.port ?? (dialect === 'postgresql' ? 5432 : 3306)}/${cfg.database}`;
  const failure = (err: unknown, what: string) =>
    err instanceof ServiceError
      ? err
      : new ServiceError('upstream_unavailable', scrub(`${what} (${target}): ${err instanceof Error ? err.message : String(err)}`), {
          retryable: isTransientSqlError(dialect, err),
        });
  const tls = tlsOptions(cfg);
  return dialect === 'postgresql' ? openPg(cfg, url, password, tls, target, failure) : openMysql(cfg, url, password, tls, target, failure);
}

/** `?` → `$1, $2, …` (our statements carry no literal question marks). */
const numbered = (sql: string) => {
  let i = 0;
  return sql.replace(/\?/g, () => `$${++i}`);
};

function openPg(
  cfg: ServerSqlConfig,
  url: string | null,
  password: string | null,
  tls: ReturnType<typeof tlsOptions>,
  target: string,
  failure: SqlClient['failure'],
): SqlClient {
  const pool = new pg.Pool({
    ...(url ? { connectionString: url } : { host: cfg.host, port: cfg.port ?? 5432, database: cfg.database, user: cfg.user, password: password ?? undefined }),
    ...(tls ? { ssl: tls } : {}),
    max: cfg.pool_size,
    connectionTimeoutMillis: cfg.connect_timeout_ms,
    idleTimeoutMillis: 30_000,
    statement_timeout: cfg.statement_timeout_ms,
    query_timeout: cfg.statement_timeout_ms + 1000,
    application_name: 'ipv6-lifecycle',
  });
  // An idle connection the server drops (a restart) emits here; the next query gets a fresh one.
  pool.on('error', () => undefined);
  const on = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query(sql, params = []) {
      const r = await c.query(numbered(sql), params);
      return { rows: r.rows, affected: r.rowCount ?? 0 };
    },
  });
  return {
    dialect: 'postgresql',
    target,
    failure,
    ...on(pool),
    async transaction(fn) {
      const { client: c, unguard } = await checkout(pool);
      let broken: unknown = undefined;
      try {
        await c.query('BEGIN');
        const out = await fn(on(c));
        await c.query('COMMIT');
        return out;
      } catch (err) {
        await c.query('ROLLBACK').catch((e: unknown) => (broken = e));
        // A read-only server is a standby now: the retry connects afresh, maybe to the new primary.
        if (broken === undefined && isReadOnlySqlError('postgresql', err)) broken = err;
        throw err;
      } finally {
        unguard();
        // A connection whose rollback failed is discarded, not reused.
        c.release(broken === undefined ? undefined : (broken as Error));
      }
    },
    async exec(script) {
      await pool.query(script);
    },
    close: () => pool.end(),
  };
}

function openMysql(
  cfg: ServerSqlConfig,
  url: string | null,
  password: string | null,
  tls: ReturnType<typeof tlsOptions>,
  target: string,
  failure: SqlClient['failure'],
): SqlClient {
  const pool = mysql.createPool({
    ...(url ? { uri: url } : { host: cfg.host, port: cfg.port ?? 3306, database: cfg.database, user: cfg.user, password: password ?? undefined }),
    ...(tls ? { ssl: tls } : {}),
    connectionLimit: cfg.pool_size,
    connectTimeout: cfg.connect_timeout_ms,
    waitForConnections: true,
    queueLimit: 0,
    multipleStatements: false,
    // FreeRADIUS's schema is latin1; our values are ASCII (names and prefixes) either way.
    charset: 'utf8mb4',
  });
  const timeout = cfg.statement_timeout_ms;
  const on = (c: mysql.Pool | mysql.PoolConnection): Queryable => ({
    async query(sql, params = []) {
      const [result] = await c.query({ sql, values: params, timeout });
      if (Array.isArray(result)) return { rows: result as Row[] as never, affected: result.length };
      return { rows: [], affected: (result as mysql.ResultSetHeader).affectedRows };
    },
  });
  return {
    dialect: 'mysql',
    target,
    failure,
    ...on(pool),
    async transaction(fn) {
      const c = await pool.getConnection();
      let broken = false;
      try {
        await c.query({ sql: 'START TRANSACTION', timeout });
        const out = await fn(on(c));
        await c.query({ sql: 'COMMIT', timeout });
        return out;
      } catch (err) {
        await c.query({ sql: 'ROLLBACK', timeout }).catch(() => (broken = true));
        if (isReadOnlySqlError('mysql', err)) broken = true;
        throw err;
      } finally {
        if (broken) c.destroy();
        else c.release();
      }
    },
    async exec(script) {
      // FreeRADIUS's schema file is several statements; run them one by one, not via multipleStatements.
      for (const statement of splitStatements(script)) await pool.query({ sql: statement, timeout });
    },
    close: () => pool.end(),
  };
}

/** The statements of a schema file: comments dropped, split at `;` ending a line. */
export function splitStatements(script: string): string[] {
  const text = script.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*(--|#).*$/gm, '');
  return text
    .split(/;\s*$/m)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
