// Start-up check of a PostgreSQL or MariaDB database that FreeRADIUS uses: we can log in,
// FreeRADIUS's radreply and radacct are there (or are created from its own schema.sql when
// configured), and the login holds every privilege the service needs on them (sql-grants.ts).
// Its failures are plain Errors with a message an operator can act on: they stop start-up and
// --check-config; they are never retried.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ServerSqlConfig } from './config.ts';
import type { SqlClient } from './sql-client.ts';
import { checkRadiusGrants, isPrivilegeError } from './sql-grants.ts';

const REQUIRED_TABLES = ['radreply', 'radacct'] as const;
/** The 3.2 columns the session lookup reads when the schema has them (older schemas lack them). */
const PREFIX_COLUMNS = ['framedipv6prefix', 'delegatedipv6prefix'] as const;

export interface RadacctShape {
  /** radacct has framedipv6prefix and delegatedipv6prefix. */
  prefixColumns: boolean;
}

const AUTH_CODES = new Set(['28P01', '28000', 'ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR']);
const NO_DATABASE = new Set(['3D000', 'ER_BAD_DB_ERROR']);

/** Names a failure to connect by its cause: the credentials, the database, or the network. */
function connectError(client: SqlClient, err: unknown, cfg: ServerSqlConfig): Error {
  const code = String((err as { code?: unknown }).code ?? '');
  const f = client.failure(err, 'radius.sql');
  const where = cfg.url_env ? `radius.sql.url_env (${cfg.url_env})` : `radius.sql.user / password_env${cfg.password_env ? ` (${cfg.password_env})` : ''}`;
  if (AUTH_CODES.has(code)) return new Error(`${f.message}: the database refused the login; check ${where}`);
  if (NO_DATABASE.has(code)) return new Error(`${f.message}: the database does not exist; check radius.sql.database`);
  return new Error(`${f.message}: cannot reach the database`);
}

// information_schema lists only the tables the login holds some privilege on; PostgreSQL's catalog
// lists them all, so a table the login may not read is reported by the grants check, not as missing.
const tablesSql = (client: SqlClient) =>
  client.dialect === 'postgresql'
    ? `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v')`
    : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = DATABASE()`;
const columnsSql = (client: SqlClient) =>
  client.dialect === 'postgresql'
    ? `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'radacct'`
    : `SELECT column_name AS name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'radacct'`;

async function names(client: SqlClient, sql: string): Promise<Set<string>> {
  const { rows } = await client.query<{ name?: string; NAME?: string }>(sql);
  // MySQL 8 upper-cases information_schema column labels; MariaDB and PostgreSQL do not.
  return new Set(rows.map((r) => String(r.name ?? r.NAME).toLowerCase()));
}

/** The required tables not listed; on MySQL/MariaDB one the login is refused is not counted (it may be hidden). */
async function missingTables(client: SqlClient, present: Set<string>): Promise<string[]> {
  const missing: string[] = [];
  for (const t of REQUIRED_TABLES.filter((t) => !present.has(t))) {
    if (client.dialect === 'mysql') {
      const refused = await client.query(`SELECT 1 FROM ${t} WHERE 1 = 0`).then(() => false, (err: unknown) => isPrivilegeError(err));
      if (refused) continue;
    }
    missing.push(t);
  }
  return missing;
}

/** Logs in and checks (or creates) FreeRADIUS's tables; throws a clear Error otherwise. */
export async function checkRadiusTables(client: SqlClient, cfg: ServerSqlConfig, log: Logger): Promise<RadacctShape> {
  let present: Set<string>;
  try {
    present = await names(client, tablesSql(client));
  } catch (err) {
    throw connectError(client, err, cfg);
  }
  let missing = await missingTables(client, present);
  if (missing.length > 0 && cfg.create_schema) {
    if (missing.length < REQUIRED_TABLES.length) {
      throw new Error(`radius.sql (${client.target}) has only part of FreeRADIUS's schema (missing ${missing.join(', ')})`);
    }
    try {
      await client.exec(readFileSync(cfg.schema_file, 'utf8'));
    } catch (err) {
      throw new Error(`${client.failure(err, `radius.sql.schema_file ${cfg.schema_file}`).message}`);
    }
    log.info({ target: client.target, schema_file: cfg.schema_file }, 'created the FreeRADIUS SQL schema');
    present = await names(client, tablesSql(client));
    missing = await missingTables(client, present);
  }
  if (missing.length > 0) {
    throw new Error(`radius.sql (${client.target}) lacks FreeRADIUS's tables ${missing.join(', ')} (create_schema is off)`);
  }
  await checkRadiusGrants(client, cfg);
  const prefixColumns = await radacctHasPrefixColumns(client);
  if (!prefixColumns) log.warn({ target: client.target }, 'radacct lacks the 3.2 framedipv6prefix/delegatedipv6prefix columns: sessions carry no prefix');
  return { prefixColumns };
}

/** radacct's column names, lower-cased (the field reader selects NULL for those an older schema lacks). */
export function radacctColumns(client: SqlClient): Promise<Set<string>> {
  return names(client, columnsSql(client));
}

/** True when radacct has the 3.2 framedipv6prefix and delegatedipv6prefix columns. */
export async function radacctHasPrefixColumns(client: SqlClient): Promise<boolean> {
  const columns = await radacctColumns(client);
  return PREFIX_COLUMNS.every((c) => columns.has(c));
}
