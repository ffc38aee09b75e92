// Start-up check that the login (`radius.sql.user`) holds every privilege the service's statements
// need on radreply and radacct, so a missing grant stops start-up and --check-config instead of the
// first activate (PostgreSQL's `SELECT … FOR UPDATE` wants UPDATE on radreply, which a login with
// only SELECT, INSERT, DELETE lacks). Each privilege is probed by a statement that needs it alone
// and touches no row (`WHERE 1 = 0`), in one transaction that is always rolled back, each under its
// own savepoint (a refused statement aborts a PostgreSQL transaction); every missing one is named.
import type { ServerSqlConfig } from './config.ts';
import type { Queryable, SqlClient } from './sql-client.ts';

interface Probe {
  /** What is missing when the statement is refused, e.g. "UPDATE on radreply". */
  grant: string;
  sql: string;
}

// A refused privilege: PostgreSQL's insufficient_privilege; MySQL/MariaDB's table, column and
// command denials (a table the login holds nothing on is refused the same way, existing or not).
const DENIED = new Set(['42501', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_COLUMNACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR']);

/** True when `err` is the server refusing a privilege (not a missing table or a lost connection). */
export function isPrivilegeError(err: unknown): boolean {
  return DENIED.has(String((err as { code?: unknown })?.code ?? ''));
}

// Each statement names no column in a WHERE or SET expression, so it needs its one privilege only.
const NOTHING = 'WHERE 1 = 0';
function probes(client: SqlClient): Probe[] {
  const dual = client.dialect === 'mysql' ? ' FROM DUAL' : '';
  const common: Probe[] = [
    { grant: 'SELECT on radreply', sql: `SELECT id, username, attribute, op, value FROM radreply ${NOTHING}` },
    { grant: 'INSERT on radreply', sql: `INSERT INTO radreply (username, attribute, op, value) SELECT '', '', '', ''${dual} ${NOTHING}` },
    { grant: 'DELETE on radreply', sql: `DELETE FROM radreply ${NOTHING}` },
    { grant: 'SELECT on radacct', sql: `SELECT 1 FROM radacct ${NOTHING}` },
  ];
  if (client.dialect === 'mysql') return common;
  // PostgreSQL's row lock (`SELECT … FOR UPDATE`) requires UPDATE; MariaDB's does not.
  return [...common.slice(0, 3), { grant: 'UPDATE on radreply', sql: `UPDATE radreply SET value = NULL ${NOTHING}` }, common[3]!];
}

/**
 * PostgreSQL: the id sequence radreply's INSERT draws from, when the login may not use it. A `serial`
 * column's default calls nextval() under the login's own rights; an identity column's does not.
 */
async function missingSequence(q: Queryable): Promise<string | null> {
  const { rows } = await q.query<{ seq: string | null; ok: boolean | null }>(
    `SELECT s.seq, has_sequence_privilege(s.seq, 'USAGE, UPDATE') AS ok FROM (SELECT pg_get_serial_sequence('radreply', 'id') AS seq) s
      WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('radreply') AND attname = 'id' AND attidentity <> '')`,
  );
  const row = rows[0];
  return row?.seq && row.ok === false ? `USAGE on sequence ${row.seq.replace(/^public\./, '')}` : null;
}

class RolledBack extends Error {}

/** The privileges the login lacks, in the order the service needs them (empty when it has all). */
export async function missingGrants(client: SqlClient): Promise<string[]> {
  const missing: string[] = [];
  await client
    .transaction(async (q) => {
      for (const [i, probe] of probes(client).entries()) {
        await q.query(`SAVEPOINT grant_probe_${i}`);
        try {
          await q.query(probe.sql);
        } catch (err) {
          if (!isPrivilegeError(err)) throw err;
          missing.push(probe.grant);
        }
        await q.query(`ROLLBACK TO SAVEPOINT grant_probe_${i}`);
      }
      if (client.dialect === 'postgresql') {
        const seq = await missingSequence(q);
        if (seq) missing.push(seq);
      }
      throw new RolledBack();
    })
    .catch((err: unknown) => {
      if (!(err instanceof RolledBack)) throw err;
    });
  return missing;
}

/** Throws an Error naming every privilege the login lacks and the setting to fix; never a secret. */
export async function checkRadiusGrants(client: SqlClient, cfg: ServerSqlConfig): Promise<void> {
  let missing: string[];
  try {
    missing = await missingGrants(client);
  } catch (err) {
    throw new Error(client.failure(err, 'radius.sql privilege check').message);
  }
  if (missing.length === 0) return;
  const who = cfg.url_env ? `the login of radius.sql.url_env (${cfg.url_env})` : `radius.sql.user (${cfg.user})`;
  throw new Error(`radius.sql (${client.target}): ${who} lacks ${missing.join(', ')}; grant ${missing.length === 1 ? 'it' : 'them'} as docs/radius.md "Grants" shows`);
}
