// What FreeRADIUS's SQL database says about the field, read page by page: the radreply rows that
// carry our prefix attributes (grouped by user) and the open radacct sessions. Adoption and
// reconciliation walk a million users with it, so nothing is ever read whole: each page is one
// keyset query (the next page starts after the last key seen), cheap on FreeRADIUS's indexes.
// The paging and the shapes are here with the SQLite reader; radius-sql.ts reads PostgreSQL and
// MySQL/MariaDB through the same paging, radius-backends.ts opens the configured one.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DELEGATED_IPV6_PREFIX, FRAMED_IPV6_PREFIX, type ReplyRow } from '../radius/reply-attributes.ts';
import { sqliteFailure, type RadiusDb } from '../radius/sqlite.ts';

/** The attributes a field reader looks for: the prefixes, whoever wrote them. */
export const PREFIX_ATTRIBUTES = [DELEGATED_IPV6_PREFIX, FRAMED_IPV6_PREFIX] as const;

/** One user's radreply rows carrying a prefix attribute, oldest row first. */
export interface FieldReply {
  username: string;
  rows: ReplyRow[];
  /** The Delegated-IPv6-Prefix value (the first row's, if there are several); null when absent. */
  delegatedPrefix: string | null;
  /** The Framed-IPv6-Prefix value; null when absent. */
  framedPrefix: string | null;
  /**
   * The user's other spellings in these rows, where the database takes several for one username
   * (MySQL's collation: 'Bob', 'bob ', 'bób' are one user to it, to FreeRADIUS's lookup and to our
   * writes); `username` is the first row's.
   */
  also?: string[];
}

/** One open radacct row (no acctstoptime). The prefix columns are null when empty or absent from the schema. */
export interface FieldSession {
  radacctId: number;
  username: string;
  nasIpAddress: string;
  acctSessionId: string;
  acctUniqueId: string;
  framedIpv6Prefix: string | null;
  delegatedIpv6Prefix: string | null;
  startedAt: string | null;
  /** The last interim update (or the start, when the NAS sends none); a session silent for long may be stale. */
  updatedAt: string | null;
}

/** Reads the field's RADIUS state; every method pages, `pageSize` rows per query. */
export interface RadiusFieldReader {
  /** Every user with a prefix attribute in radreply, by username, one page of users at a time. */
  replies(opts?: { pageSize?: number; signal?: AbortSignal }): AsyncGenerator<FieldReply[]>;
  /** The prefix rows of some users (a repair reads them back), keyed by username. */
  repliesOf(usernames: string[]): Promise<Map<string, FieldReply>>;
  /** Every open session, oldest first, one page at a time. */
  openSessions(opts?: { pageSize?: number; signal?: AbortSignal }): AsyncGenerator<FieldSession[]>;
  /** Releases the connection (a pool on a server backend); never rejects. */
  close(): Promise<void>;
}

export const DEFAULT_PAGE = 1000;

/** A radacct row as a reader selects it; times as rlm_sql writes them to SQLite (`2026-01-01 00:00:00`, UTC) or an epoch. */
export interface RadacctRow {
  radacctid: number;
  username: string;
  nasipaddress: string;
  acctsessionid: string;
  acctuniqueid: string;
  framedipv6prefix: string | null;
  delegatedipv6prefix: string | null;
  acctstarttime: string | number | null;
  acctupdatetime: string | number | null;
}

type PageOpts = { pageSize?: number; signal?: AbortSignal };
type ReplyKey = { username: string; id: number };

/**
 * radreply's prefix rows page by page into whole users. `page` reads `limit` rows after the key
 * (username, id), in that order: a user whose rows straddle two pages is finished on the next one.
 A row's `userKey`, when the page gives one, is the database's idea of its username (MySQL's
 * collation weight: several spellings may be one user); without it the username itself is.
 */
export async function* replyPages(
  page: (after: ReplyKey, limit: number) => (ReplyRow & { userKey?: string })[] | Promise<(ReplyRow & { userKey?: string })[]>,
  { pageSize = DEFAULT_PAGE, signal }: PageOpts = {},
): AsyncGenerator<FieldReply[]> {
  let after: ReplyKey = { username: '', id: 0 };
  let open: FieldReply | null = null;
  let openKey = '';
  for (;;) {
    signal?.throwIfAborted();
    const rows = await page(after, pageSize);
    const done: FieldReply[] = [];
    for (const { userKey, ...r } of rows) {
      const key = userKey ?? r.username;
      if (open && openKey !== key) {
        done.push(open);
        open = null;
      }
      if (!open) {
        open = { username: r.username, rows: [], delegatedPrefix: null, framedPrefix: null };
        openKey = key;
      } else if (r.username !== open.username && !open.also?.includes(r.username)) (open.also ??= []).push(r.username);
      addRow(open, r);
    }
    if (rows.length < pageSize) {
      if (open) done.push(open);
      if (done.length > 0) yield done;
      return;
    }
    const last = rows[rows.length - 1]!;
    after = { username: last.username, id: last.id };
    if (done.length > 0) yield done;
    // Give the event loop a turn between pages: FreeRADIUS and the API share the process's time.
    await nextTurn();
  }
}

/** radacct's open rows page by page; `page` reads `limit` rows after `radacctid`, in its order. */
export async function* sessionPages(
  page: (after: number, limit: number) => RadacctRow[] | Promise<RadacctRow[]>,
  { pageSize = DEFAULT_PAGE, signal }: PageOpts = {},
): AsyncGenerator<FieldSession[]> {
  for (let after = 0; ; ) {
    signal?.throwIfAborted();
    const rows = await page(after, pageSize);
    if (rows.length > 0) yield rows.map(toSession);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.radacctid;
    await nextTurn();
  }
}

/** One user's rows (oldest first) as a FieldReply; null when there are none. */
export function fieldReply(username: string, rows: ReplyRow[]): FieldReply | null {
  if (rows.length === 0) return null;
  const reply: FieldReply = { username, rows: [], delegatedPrefix: null, framedPrefix: null };
  for (const r of rows) addRow(reply, r);
  return reply;
}

/** A reader on an open FreeRADIUS SQLite database (the caller keeps ownership of `db` unless it calls close()). */
export function createRadiusFieldReader(db: RadiusDb): RadiusFieldReader {
  const attrs = PREFIX_ATTRIBUTES.map((_, i) => `@a${i}`).join(', ');
  const attrParams = Object.fromEntries(PREFIX_ATTRIBUTES.map((a, i) => [`a${i}`, a.toLowerCase()]));
  const replyPage = db.prepare<Record<string, string | number>, ReplyRow>(
    `SELECT id, username, attribute, op, value FROM radreply
      WHERE lower(attribute) IN (${attrs}) AND (username > @username OR (username = @username AND id > @id))
      ORDER BY username, id LIMIT @limit`,
  );
  const replyOfUser = db.prepare<Record<string, string>, ReplyRow>(
    `SELECT id, username, attribute, op, value FROM radreply WHERE username = @username AND lower(attribute) IN (${attrs}) ORDER BY id`,
  );
  // Older schemas lack the IPv6 columns: select NULL in their place rather than failing.
  const columns = new Set((db.prepare(`PRAGMA table_info(radacct)`).all() as { name: string }[]).map((c) => c.name));
  const col = (name: string) => (columns.has(name) ? name : `NULL AS ${name}`);
  const sessionPage = db.prepare<{ after: number; limit: number }, RadacctRow>(
    `SELECT radacctid, username, nasipaddress, acctsessionid, acctuniqueid, ${col('framedipv6prefix')}, ${col('delegatedipv6prefix')},
            acctstarttime, ${col('acctupdatetime')}
       FROM radacct WHERE acctstoptime IS NULL AND radacctid > @after ORDER BY radacctid LIMIT @limit`,
  );

  const read = <T>(what: string, body: () => T): T => {
    try {
      return body();
    } catch (err) {
      throw sqliteFailure(err, what);
    }
  };

  return {
    replies: (opts) => replyPages((after, limit) => read('radreply read', () => replyPage.all({ ...attrParams, ...after, limit })), opts),

    async repliesOf(usernames) {
      const out = new Map<string, FieldReply>();
      read('radreply read', () => {
        for (const username of usernames) {
          const reply = fieldReply(username, replyOfUser.all({ ...attrParams, username }));
          if (reply) out.set(username, reply);
        }
      });
      return out;
    },

    openSessions: (opts) => sessionPages((after, limit) => read('radacct read', () => sessionPage.all({ after, limit })), opts),

    close: async () => {
      db.close();
    },
  };
}

function addRow(reply: FieldReply, r: ReplyRow): void {
  reply.rows.push(r);
  // FreeRADIUS's dictionary takes an attribute name in any case.
  const attribute = r.attribute.toLowerCase();
  if (attribute === DELEGATED_IPV6_PREFIX.toLowerCase()) reply.delegatedPrefix ??= r.value;
  if (attribute === FRAMED_IPV6_PREFIX.toLowerCase()) reply.framedPrefix ??= r.value;
}

const text = (v: string | number | null) => (v === null || v === '' ? null : String(v));

function toSession(r: RadacctRow): FieldSession {
  return {
    radacctId: r.radacctid,
    username: r.username,
    nasIpAddress: r.nasipaddress.trim(),
    acctSessionId: r.acctsessionid,
    acctUniqueId: r.acctuniqueid,
    framedIpv6Prefix: text(r.framedipv6prefix),
    delegatedIpv6Prefix: text(r.delegatedipv6prefix),
    startedAt: text(r.acctstarttime),
    updatedAt: text(r.acctupdatetime) ?? text(r.acctstarttime),
  };
}
