// SessionSource on FreeRADIUS's `radacct` in PostgreSQL or MySQL/MariaDB. PostgreSQL's schema keeps
// addresses and prefixes as `inet`, read back as text; MySQL keeps text ('' for none). The 3.2
// framedipv6prefix/delegatedipv6prefix columns are read when the schema has them.
import { canonicalIpAddress } from './ipv6-prefix.ts';
import { toOpenSessions, type OpenSession, type SessionSource } from './sessions.ts';
import type { SqlClient } from './sql-client.ts';
import { radacctHasPrefixColumns } from './sql-schema.ts';

interface Row {
  acctsessionid: string;
  acctuniqueid: string;
  username: string;
  nasipaddress: string | null;
  framedipv6prefix: string | null;
  delegatedipv6prefix: string | null;
  acctstarttime: Date | string | null;
  callingstationid: string | null;
}

/** The column list for the dialect, with NULL for prefix columns the schema lacks. */
function selectList(client: SqlClient, prefixColumns: boolean): string {
  const pg = client.dialect === 'postgresql';
  const col = (c: string) => (prefixColumns ? (pg ? `text(${c}) AS ${c}` : c) : `NULL AS ${c}`);
  return [
    'acctsessionid',
    'acctuniqueid',
    'username',
    pg ? 'host(nasipaddress) AS nasipaddress' : 'nasipaddress',
    col('framedipv6prefix'),
    col('delegatedipv6prefix'),
    'acctstarttime',
    'callingstationid',
  ].join(', ');
}

export class SqlSessionSource implements SessionSource {
  private shape: Promise<boolean> | null = null;

  constructor(private readonly client: SqlClient) {}

  async openSessions(username: string, signal?: AbortSignal): Promise<OpenSession[]> {
    signal?.throwIfAborted();
    try {
      const prefixColumns = await (this.shape ??= radacctHasPrefixColumns(this.client).catch((err: unknown) => {
        this.shape = null;
        throw err;
      }));
      const { rows } = await this.client.query<Row>(
        `SELECT ${selectList(this.client, prefixColumns)} FROM radacct WHERE username = ? AND acctstoptime IS NULL ORDER BY radacctid`,
        [username],
      );
      return toOpenSessions(
        rows.map((r) => ({
          ...r,
          nasipaddress: r.nasipaddress ? canonicalOrAsIs(r.nasipaddress.trim()) : '',
          acctstarttime: r.acctstarttime instanceof Date ? r.acctstarttime.toISOString() : r.acctstarttime,
        })),
      );
    } catch (err) {
      throw this.client.failure(err, 'radacct read');
    }
  }

  /** Ends the pool; never rejects (compose's shutdown does not wait for it). */
  close(): Promise<void> {
    return this.client.close().catch(() => undefined);
  }
}

function canonicalOrAsIs(address: string): string {
  try {
    return canonicalIpAddress(address);
  } catch {
    return address;
  }
}
