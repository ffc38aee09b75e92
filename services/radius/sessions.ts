// Open sessions from FreeRADIUS's `radacct` (rlm_sql accounting): a row without `acctstoptime`
// is a session the NAS has not reported as stopped.
import type { Logger } from 'pino';
import { sqliteSettings, type RadiusConfig } from './config.ts';
import { openSqlClient } from './sql-client.ts';
import { SqlSessionSource } from './sql-sessions.ts';
import { openRadiusSqlite, sqliteFailure, type RadiusDb } from './sqlite.ts';

/** One open session as `radacct` records it. */
export interface OpenSession {
  /** Acct-Session-Id, as the NAS assigned it. */
  acctSessionId: string;
  /** Acct-Unique-Session-Id that FreeRADIUS derived (the row's key). */
  acctUniqueId: string;
  username: string;
  /** NAS-IP-Address (or NAS-IPv6-Address, if the start query stores it); may be empty. */
  nasIpAddress: string;
  framedIpv6Prefix: string | null;
  delegatedIpv6Prefix: string | null;
  startedAt: string | null;
  /** Calling-Station-Id (the CPE's MAC on most BNGs), when radacct has one. */
  callingStationId?: string | null;
}

/** Where dynamic authorization finds a user's open sessions (a SQL backend, or a test double). */
export interface SessionSource {
  /** Open sessions of `username`, oldest first, one per (NAS, Acct-Session-Id). */
  openSessions(username: string, signal?: AbortSignal): Promise<OpenSession[]>;
}

export interface RadacctRow {
  acctsessionid: string;
  acctuniqueid: string;
  username: string;
  nasipaddress: string;
  framedipv6prefix: string | null;
  delegatedipv6prefix: string | null;
  acctstarttime: string | number | null;
  callingstationid?: string | null;
}

/** SessionSource on a `radacct` table in SQLite. */
export class SqliteSessionSource implements SessionSource {
  private readonly selectOpenSessionsOfUser;

  constructor(private readonly db: RadiusDb) {
    this.selectOpenSessionsOfUser = db.prepare<{ username: string }, RadacctRow>(
      `SELECT acctsessionid, acctuniqueid, username, nasipaddress, framedipv6prefix, delegatedipv6prefix, acctstarttime, callingstationid
         FROM radacct
        WHERE username = @username AND acctstoptime IS NULL
        ORDER BY radacctid`,
    );
  }

  /** Open sessions of `username`, oldest first. */
  async openSessions(username: string, signal?: AbortSignal): Promise<OpenSession[]> {
    signal?.throwIfAborted();
    let rows: RadacctRow[];
    try {
      rows = this.selectOpenSessionsOfUser.all({ username });
    } catch (err) {
      throw sqliteFailure(err, 'radacct read');
    }
    return toOpenSessions(rows);
  }

  /** Closes the connection. */
  close(): void {
    this.db.close();
  }
}

/** One OpenSession per (NAS, Acct-Session-Id), in row order. */
export function toOpenSessions(rows: RadacctRow[]): OpenSession[] {
  const seen = new Set<string>();
  const out: OpenSession[] = [];
  for (const r of rows) {
    // A lost Stop plus a new Start can leave two open rows for one session; ask the NAS once.
    const key = `${r.nasipaddress}\u0000${r.acctsessionid}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      acctSessionId: r.acctsessionid,
      acctUniqueId: r.acctuniqueid,
      username: r.username,
      nasIpAddress: r.nasipaddress.trim(),
      framedIpv6Prefix: r.framedipv6prefix || null,
      delegatedIpv6Prefix: r.delegatedipv6prefix || null,
      startedAt: r.acctstarttime === null ? null : String(r.acctstarttime),
      ...(r.callingstationid ? { callingStationId: r.callingstationid } : {}),
    });
  }
  return out;
}

/** Opens the configured SQL backend for reading `radacct` (a server backend connects at the first read). */
export function createSessionSource(config: RadiusConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): SessionSource & { close(): void | Promise<void> } {
  if (config.sql.backend !== 'sqlite') return new SqlSessionSource(openSqlClient(config.sql, env));
  return new SqliteSessionSource(openRadiusSqlite(sqliteSettings(config.sql), log.child({ component: 'radius-sessions' })));
}
