// The lifecycle store on PostgreSQL: the queries of store/lifecycles.ts in PostgreSQL's dialect,
// over a bounded pool. A batch is two statements in one transaction whatever its size (rows and
// audit entries passed as arrays), and a deadlock between instances' batches is retried.
import type pg from 'pg';
import { LIFECYCLE_STATES } from '../../machines/types.ts';
import type { AuditEntry, DueRow, HolderKey, LifecycleHolder, LifecycleRow, ListCursor, ListQuery, SaveItem } from '../lifecycles.ts';
import type { LifecyclePort } from '../port.ts';
import { inTransaction, isRetryable } from './pool.ts';

const COLUMNS = [
  'id', 'subscriber_id', 'state', 'busy', 'pool', 'prefix', 'prefix_length', 'netbox_prefix_id', 'username', 'cpe_id',
  'allocated_at', 'activated_at', 'suspended_at', 'revoked_at', 'created_at', 'updated_at', 'next_pending_at', 'snapshot',
] as const satisfies readonly (keyof LifecycleRow)[];
const TYPES: Record<(typeof COLUMNS)[number], string> = {
  id: 'text', subscriber_id: 'text', state: 'text', busy: 'int4', pool: 'text', prefix: 'text', prefix_length: 'int4',
  netbox_prefix_id: 'int8', username: 'text', cpe_id: 'text', allocated_at: 'text', activated_at: 'text',
  suspended_at: 'text', revoked_at: 'text', created_at: 'text', updated_at: 'text', next_pending_at: 'text', snapshot: 'text',
};
const KEPT = COLUMNS.filter((c) => c !== 'id' && c !== 'subscriber_id' && c !== 'created_at');

/** Upserts rows given as one array per column (the id is never updated; nor who or when it was created). */
const UPSERT_ROWS = `
  INSERT INTO lifecycles (${COLUMNS.join(', ')})
  SELECT * FROM unnest(${COLUMNS.map((c, i) => `$${i + 1}::${TYPES[c]}[]`).join(', ')})
  ON CONFLICT (id) DO UPDATE SET ${KEPT.map((c) => `${c} = excluded.${c}`).join(', ')}`;

const AUDIT_COLUMNS = ['lifecycle_id', 'subscriber_id', 'at', 'type', 'from_state', 'to_state', 'detail'] as const satisfies readonly (keyof AuditEntry)[];
/** Appends entries in the order given: seq follows the array's order. */
const INSERT_AUDIT = `
  INSERT INTO audit (${AUDIT_COLUMNS.join(', ')})
  SELECT ${AUDIT_COLUMNS.join(', ')} FROM unnest(${AUDIT_COLUMNS.map((_, i) => `$${i + 1}::text[]`).join(', ')})
    WITH ORDINALITY AS a (${AUDIT_COLUMNS.join(', ')}, ord)
  ORDER BY ord`;

const HOLDER = 'id, subscriber_id, state, busy, pool, prefix, username';
/** The SQLite store's HOLDERS_OF, the values one text[]: on the same primary key and partial indexes (migrations 001, 009). */
export const HOLDERS_OF: Record<HolderKey, string> = {
  id: `SELECT ${HOLDER} FROM lifecycles WHERE id = ANY($1::text[])`,
  subscriber_id: `SELECT ${HOLDER} FROM lifecycles WHERE subscriber_id = ANY($1::text[]) AND state <> 'revoked'`,
  prefix: `SELECT ${HOLDER} FROM lifecycles WHERE prefix = ANY($1::text[]) AND prefix IS NOT NULL AND state <> 'revoked'`,
  username: `SELECT ${HOLDER} FROM lifecycles WHERE username = ANY($1::text[]) AND username IS NOT NULL AND state <> 'revoked'`,
};
const EVENT = AUDIT_COLUMNS.join(', ');

/** A keyed request's mark and a resume's read: seeks on audit_subscriber (subscriber_id, seq). seq is a bigint, read as a float8 (exact below 2^53). */
// Its own name for the float8: `ORDER BY seq` would sort by an output column named seq, not the index's.
export const LAST_SEQ = 'SELECT seq::float8 AS last_seq FROM audit WHERE subscriber_id = $1 ORDER BY seq DESC LIMIT 1';
export const EVENTS_AFTER = `SELECT ${EVENT} FROM audit WHERE subscriber_id = $1 AND seq > $2 ORDER BY seq`;
/** A later live lifecycle on the CPE: one seek on lifecycles_live_cpe_since (migration 011), no sort. */
export const NEWER_ON_CPE =
  "SELECT id FROM lifecycles WHERE cpe_id = $1 AND state <> 'revoked' AND coalesce(activated_at, created_at) > $2 ORDER BY coalesce(activated_at, created_at) DESC LIMIT 1";
/** The pending worker's pages: a keyset on lifecycles_next_pending (next_pending_at, id), migration 012. */
const DUE = 'SELECT id, subscriber_id, next_pending_at FROM lifecycles WHERE next_pending_at IS NOT NULL AND next_pending_at <= $1';
export const DUE_FIRST = `${DUE} ORDER BY next_pending_at, id LIMIT $2`;
export const DUE_COUNT = 'SELECT count(*)::int AS n FROM (SELECT 1 FROM lifecycles WHERE next_pending_at IS NOT NULL AND next_pending_at <= $1 LIMIT $2) AS due';
export const DUE_NEXT = `${DUE} AND (next_pending_at, id) > ($3, $4) ORDER BY next_pending_at, id LIMIT $2`;

/** How often a batch that lost a deadlock to another instance's batch is run again. */
const RETRIES = 5;

export function createPgLifecycleStore(pool: pg.Pool): LifecyclePort {
  const one = async <T extends object>(text: string, values: unknown[]): Promise<T | undefined> => (await pool.query<T>(text, values)).rows[0];
  const all = async <T extends object>(text: string, values: unknown[] = []): Promise<T[]> => (await pool.query<T>(text, values)).rows;

  const write = (items: readonly { row: LifecycleRow; audit: AuditEntry | null }[]) => writeBatch(pool, items);

  return {
    save: (row, audit) => write([{ row, audit }]),
    saveBatch: (items: readonly SaveItem[]) => write(items),
    get: (id) => one<LifecycleRow>('SELECT * FROM lifecycles WHERE id = $1', [id]),
    live: (subscriberId) => one<LifecycleRow>("SELECT * FROM lifecycles WHERE subscriber_id = $1 AND state <> 'revoked'", [subscriberId]),
    latest: (subscriberId) => one<LifecycleRow>('SELECT * FROM lifecycles WHERE subscriber_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1', [subscriberId]),
    list: (q) => {
      const { text, values } = pgListQuery(q);
      return all<LifecycleRow>(text, values);
    },
    usernameHolder: async (username, exceptSubscriberId, folded = false) =>
      (
        await one<{ subscriber_id: string }>(
          folded
            ? "SELECT subscriber_id FROM lifecycles WHERE lower(rtrim(username, ' ')) = lower(rtrim($1, ' ')) AND username IS NOT NULL AND state <> 'revoked' AND subscriber_id <> $2 LIMIT 1"
            : "SELECT subscriber_id FROM lifecycles WHERE username = $1 AND state <> 'revoked' AND subscriber_id <> $2 LIMIT 1",
          [username, exceptSubscriberId],
        )
      )?.subscriber_id ?? null,
    prefixHolder: async (prefix, exceptLifecycleId) =>
      (await one<Pick<LifecycleRow, 'id' | 'subscriber_id' | 'state'>>("SELECT id, subscriber_id, state FROM lifecycles WHERE prefix = $1 AND state <> 'revoked' AND id <> $2 LIMIT 1", [
        prefix,
        exceptLifecycleId,
      ])) ?? null,
    busy: async () => (await all<{ id: string }>('SELECT id FROM lifecycles WHERE busy = 1')).map((r) => r.id),
    duePending: (now, limit, after) =>
      after
        ? all<DueRow>(DUE_NEXT, [now, limit, after.next_pending_at, after.id])
        : all<DueRow>(DUE_FIRST, [now, limit]),
    newerOnCpe: async (cpeId, than) =>
      (await one<{ id: string }>(NEWER_ON_CPE, [cpeId, than.activated_at ?? than.created_at]))?.id ?? null,
    countByState: async () =>
      Object.fromEntries(
        (await all<{ state: string; n: number }>("SELECT substr(key, 7) AS state, n FROM lifecycle_counts WHERE key >= 'state:' AND key < 'state;' AND n > 0")).map((r) => [r.state, r.n]),
      ),
    countDue: async (now, limit) => (await one<{ n: number }>(DUE_COUNT, [now, limit]))!.n,
    countPending: async () => (await one<{ n: number }>("SELECT coalesce((SELECT n FROM lifecycle_counts WHERE key = 'pending'), 0) AS n", []))!.n,
    sharedPrefixes: async () =>
      (
        await all<{ prefix: string; ids: string }>(`
          SELECT p.prefix AS prefix, string_agg(l.id, ',' ORDER BY l.id) AS ids FROM live_prefixes AS p
          JOIN lifecycles AS l ON l.prefix = p.prefix AND l.state <> 'revoked'
          WHERE p.n > 1 GROUP BY p.prefix`)
      ).map((r) => ({ prefix: r.prefix, lifecycle_ids: r.ids.split(',') })),
    holder: (id) => one<LifecycleHolder>(`SELECT ${HOLDER} FROM lifecycles WHERE id = $1`, [id]),
    holdersOf: async (by, values) => (values.length === 0 ? [] : all<LifecycleHolder>(HOLDERS_OF[by], [values])),
    heldPage: (state, limit, after?: ListCursor) =>
      after
        ? all<LifecycleHolder & ListCursor>(
            `SELECT ${HOLDER}, created_at FROM lifecycles WHERE state = $1 AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $2`,
            [state, limit, after.created_at, after.id],
          )
        : all<LifecycleHolder & ListCursor>(`SELECT ${HOLDER}, created_at FROM lifecycles WHERE state = $1 ORDER BY created_at, id LIMIT $2`, [state, limit]),
    events: (subscriberId) => all<AuditEntry>(`SELECT ${EVENT} FROM audit WHERE subscriber_id = $1 ORDER BY seq`, [subscriberId]),
    lastSeq: async (subscriberId) => (await one<{ last_seq: number }>(LAST_SEQ, [subscriberId]))?.last_seq ?? 0,
    eventsAfter: (subscriberId, seq) => all<AuditEntry>(EVENTS_AFTER, [subscriberId, seq]),
  };
}

/**
 * Stores snapshots in one transaction (all or none), retrying a deadlock with another instance's
 * batch. `check` runs first in the same transaction (the fencing of store/postgresql/leases.ts):
 * when it throws, nothing is written.
 */
export async function writeBatch(
  pool: pg.Pool,
  items: readonly { row: LifecycleRow; audit: AuditEntry | null }[],
  check?: (c: pg.PoolClient) => Promise<void>,
): Promise<void> {
  if (items.length === 0) return;
  // One statement cannot upsert a row twice: a batch that holds several snapshots of one lifecycle
  // stores its last. The kept counts only compare the stored row with the new one, so they agree.
  const last = new Map<string, LifecycleRow>();
  for (const { row } of items) last.set(row.id, row);
  const rows = [...last.values()];
  const entries = items.flatMap(({ audit }) => (audit ? [audit] : []));
  for (let attempt = 1; ; attempt++) {
    try {
      await inTransaction(pool, async (c) => {
        await check?.(c);
        await c.query(UPSERT_ROWS, COLUMNS.map((col) => rows.map((r) => r[col])));
        if (entries.length) await c.query(INSERT_AUDIT, AUDIT_COLUMNS.map((col) => entries.map((e) => e[col])));
      });
      return;
    } catch (err) {
      if (!isRetryable(err) || attempt >= RETRIES) throw err;
    }
  }
}

/**
 * The list query of store/lifecycles.ts (`listSql`), with positional parameters. A pool without a
 * state is read as listSql reads it, one leg per state through lifecycles_pool (pool, state, created_at, id),
 * the index that seeks on both filters (migration 007): each leg in index order and cut at the
 * limit, so that at most a page per state is sorted whichever way the planner puts them together.
 * Migration 007 keeps every row's state among LIFECYCLE_STATES.
 */
export function pgListQuery(q: ListQuery): { text: string; values: unknown[] } {
  const desc = q.order === 'desc';
  const values: unknown[] = [];
  const param = (v: unknown) => `$${values.push(v)}`;
  const where: string[] = [];
  if (q.state !== undefined) where.push(`state = ${param(q.state)}`);
  if (q.pool !== undefined) where.push(`pool = ${param(q.pool)}`);
  if (q.after !== undefined) where.push(`(created_at, id) ${desc ? '<' : '>'} (${param(q.after.created_at)}, ${param(q.after.id)})`);
  const dir = desc ? 'DESC' : 'ASC';
  const order = `ORDER BY created_at ${dir}, id ${dir} LIMIT ${param(q.limit)}`;
  if (q.pool !== undefined && q.state === undefined) {
    const legs = LIFECYCLE_STATES.map((s) => `(SELECT * FROM lifecycles WHERE ${[`state = '${s}'`, ...where].join(' AND ')} ${order})`);
    return { text: `${legs.join(' UNION ALL ')} ${order}`, values };
  }
  return { text: `SELECT * FROM lifecycles ${where.length ? `WHERE ${where.join(' AND ')} ` : ''}${order}`, values };
}
