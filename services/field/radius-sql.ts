// The field reader on FreeRADIUS's PostgreSQL or MySQL/MariaDB: the same keyset pages as on SQLite
// (replyPages, sessionPages), in each dialect's SQL. What comes back matches the SQLite reader's:
// PostgreSQL's `inet` columns as text, MySQL's '' as null (toSession), and times as rlm_sql writes
// them to SQLite, `YYYY-MM-DD HH:MM:SS` in UTC, whatever the column type or the server's time zone.
import type { Logger } from 'pino';
import type { ReplyRow } from '../radius/reply-attributes.ts';
import type { SqlClient } from '../radius/sql-client.ts';
import { radacctColumns } from '../radius/sql-schema.ts';
import { fieldReply, PREFIX_ATTRIBUTES, replyPages, sessionPages, type FieldReply, type RadacctRow, type RadiusFieldReader } from './radius.ts';

/** A reader over `client` (it owns the client: close() ends its pool); `log` hears of a radreply the pages cannot walk in order. */
export function createSqlRadiusFieldReader(client: SqlClient, log?: Logger): RadiusFieldReader {
  const pg = client.dialect === 'postgresql';
  const inList = PREFIX_ATTRIBUTES.map(() => '?').join(', ');
  // FreeRADIUS's dictionary takes an attribute name in any case: so do these reads.
  const LOWERED = PREFIX_ATTRIBUTES.map((a) => a.toLowerCase());
  // MySQL's collation (FreeRADIUS's schema: latin1, case-insensitive, trailing spaces ignored,
  // accents folded) makes `Alice`, `alice ` and `alicé` one user, sorted together: group them by
  // the collation's own weight, as FreeRADIUS's lookup and our writes (`username = ?`) see them.
  // WEIGHT_STRING keeps trailing spaces, which a PAD SPACE collation (latin1_swedish_ci, the stock
  // schema's) ignores: those are trimmed first where the column's own comparison says they count for nothing.
  const userKey = pg ? '' : ", HEX(WEIGHT_STRING(IF(CONCAT(username, ' ') = username, RTRIM(username), username))) AS userKey";

  const read = async <R extends object>(what: string, sql: string, params: unknown[]): Promise<R[]> => {
    try {
      return (await client.query<R>(sql, params)).rows;
    } catch (err) {
      throw client.failure(err, what);
    }
  };

  // Found once per reader (an import opens its own): older schemas lack the 3.2 columns, read as NULL.
  let sessionSql: Promise<string> | null = null;
  const sessionQuery = () =>
    (sessionSql ??= radacctColumns(client).then(
      (columns) => sessionSelect(pg, columns),
      (err: unknown) => {
        sessionSql = null;
        throw client.failure(err, 'radacct read');
      },
    ));

  let indexChecked = false;
  const checkIndex = async () => {
    if (indexChecked || pg || !log) return;
    indexChecked = true;
    if (!(await mysqlOrdersByUsername(client))) {
      log.warn(
        { target: client.target, index: 'CREATE INDEX radreply_username_id ON radreply (username, id)' },
        'radreply has no full index on username (the stock schema indexes username(32)): every page of a reconciliation or import sorts the rest of radreply; add the index',
      );
    }
  };

  return {
    replies: (opts) =>
      replyPages(
        async (after, limit) => {
          await checkIndex();
          return (
            await read<ReplyRow>(
              'radreply read',
              // `username >= ?` first: the one condition an index on username can start the scan at
              // (PostgreSQL only filters on the OR alone, reading the index from its start every page).
              `SELECT id, username, attribute, op, value${userKey} FROM radreply
                WHERE lower(attribute) IN (${inList}) AND username >= ? AND (username > ? OR id > ?)
                ORDER BY username, id LIMIT ?`,
              [...LOWERED, after.username, after.username, after.id, limit],
            )
          ).map((r) => ({ ...replyRow(r), ...(pg ? {} : { userKey: String((r as { userKey?: unknown }).userKey) }) }));
        },
        opts,
      ),

    async repliesOf(usernames) {
      const out = new Map<string, FieldReply>();
      for (const username of usernames) {
        const rows = await read<ReplyRow>(
          'radreply read',
          `SELECT id, username, attribute, op, value FROM radreply WHERE username = ? AND lower(attribute) IN (${inList}) ORDER BY id`,
          [username, ...LOWERED],
        );
        const reply = fieldReply(username, rows.map(replyRow));
        if (reply) out.set(username, reply);
      }
      return out;
    },

    openSessions: (opts) =>
      sessionPages(async (after, limit) => {
        const sql = await sessionQuery();
        return (await read<SqlRadacctRow>('radacct read', sql, [after, limit])).map(radacctRow);
      }, opts),

    close: () => client.close().catch(() => undefined),
  };
}

/**
 * True when MySQL has an index starting with the whole username column (a prefix index such as the
 * stock `username(32)` cannot order rows: the page query then filesorts the rest of the table, which
 * made a walk of 100,000 users take 15 s instead of 1 s). A failing check says yes: it only warns.
 */
async function mysqlOrdersByUsername(client: SqlClient): Promise<boolean> {
  try {
    const { rows } = await client.query<{ n?: number | string; N?: number | string }>(
      `SELECT COUNT(*) AS n FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name = 'radreply' AND column_name = 'username' AND seq_in_index = 1 AND sub_part IS NULL`,
    );
    return Number(rows[0]?.n ?? rows[0]?.N ?? 1) > 0;
  } catch {
    return true;
  }
}

/** As selected: PostgreSQL's bigint and numeric come back as strings, epochs as numbers or strings. */
interface SqlRadacctRow {
  radacctid: number | string;
  username: string | null;
  nasipaddress: string | null;
  acctsessionid: string;
  acctuniqueid: string;
  framedipv6prefix: string | null;
  delegatedipv6prefix: string | null;
  acctstarttime: number | string | null;
  acctupdatetime: number | string | null;
}

/** The open-sessions page for the dialect; every column aliased (MySQL 8 would echo its own case). */
function sessionSelect(pg: boolean, columns: Set<string>): string {
  const optional = (c: string, expr: string) => (columns.has(c) ? `${expr} AS ${c}` : `NULL AS ${c}`);
  const prefix = (c: string) => optional(c, pg ? `text(${c})` : c);
  // Seconds since the epoch: the server turns its own time zone (MySQL's DATETIME, written by
  // FROM_UNIXTIME in the session's zone) or PostgreSQL's timestamptz into one absolute instant.
  const epoch = (c: string) => (pg ? `extract(epoch from ${c})` : `UNIX_TIMESTAMP(${c})`);
  return `SELECT radacctid AS radacctid, username AS username, ${pg ? 'host(nasipaddress)' : 'nasipaddress'} AS nasipaddress,
                 acctsessionid AS acctsessionid, acctuniqueid AS acctuniqueid, ${prefix('framedipv6prefix')}, ${prefix('delegatedipv6prefix')},
                 ${epoch('acctstarttime')} AS acctstarttime, ${optional('acctupdatetime', epoch('acctupdatetime'))}
            FROM radacct WHERE acctstoptime IS NULL AND radacctid > ? ORDER BY radacctid LIMIT ?`;
}

function replyRow(r: ReplyRow): ReplyRow {
  return { id: Number(r.id), username: r.username, attribute: r.attribute, op: r.op, value: r.value };
}

function radacctRow(r: SqlRadacctRow): RadacctRow {
  return {
    radacctid: Number(r.radacctid),
    username: r.username ?? '',
    nasipaddress: r.nasipaddress ?? '',
    acctsessionid: r.acctsessionid,
    acctuniqueid: r.acctuniqueid,
    framedipv6prefix: r.framedipv6prefix,
    delegatedipv6prefix: r.delegatedipv6prefix,
    acctstarttime: sqlTime(r.acctstarttime),
    acctupdatetime: sqlTime(r.acctupdatetime),
  };
}

/** An epoch (seconds) as `YYYY-MM-DD HH:MM:SS` UTC; null for none (or MySQL's 0 for a zero date). */
export function sqlTime(epoch: number | string | null): string | null {
  if (epoch === null) return null;
  const seconds = Number(epoch);
  if (!Number.isFinite(seconds) || seconds <= 0) return null;
  return new Date(Math.floor(seconds) * 1000).toISOString().replace('T', ' ').slice(0, 19);
}
