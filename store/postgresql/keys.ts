// Idempotency keys and retention on PostgreSQL: the statements of store/idempotency.ts and
// store/retention.ts in PostgreSQL's dialect. A key's first writer wins across instances
// (INSERT … ON CONFLICT DO NOTHING is atomic), as INSERT OR IGNORE is within one SQLite file.
import type pg from 'pg';
import { encodePending, PENDING, readKey, type StoredResponse } from '../idempotency.ts';
import type { IdempotencyPort, RetentionPort } from '../port.ts';
import type { ExpiredLifecycle } from '../retention.ts';
import { inTransaction } from './pool.ts';

export function createPgIdempotencyStore(pool: pg.Pool): IdempotencyPort {
  const insert = async (key: string, r: StoredResponse): Promise<boolean> =>
    ((
      await pool.query(
        'INSERT INTO idempotency (key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING',
        [key, r.request_hash, r.status, r.body, new Date().toISOString()],
      )
    ).rowCount ?? 0) === 1;
  const updatePending = (key: string, status: number, body: string) =>
    pool.query(`UPDATE idempotency SET status = $2, body = $3 WHERE key = $1 AND status = ${PENDING}`, [key, status, body]);
  // As store/idempotency.ts's OWNED_BY: only a pending key's body is read as JSON, in that order.
  const ownedBy = (n: number) => `CASE WHEN status = ${PENDING} THEN body::jsonb ->> 'owner' END = $${n}`;
  return {
    async get(key) {
      const row = (await pool.query<StoredResponse>('SELECT request_hash, status, body FROM idempotency WHERE key = $1', [key])).rows[0];
      return row ? readKey(row) : undefined;
    },
    async put(key, r) {
      if (r.status === PENDING) throw new Error('a 202 is not a final answer; begin() records a pending key');
      await insert(key, r);
    },
    begin: (key, request_hash, owner) => insert(key, { request_hash, status: PENDING, body: encodePending(owner, null) }),
    accept: async (key, at, owner) => void (await updatePending(key, PENDING, encodePending(owner, at))),
    takeOver: async (key, seen, owner) =>
      ((await pool.query(`UPDATE idempotency SET body = $3 WHERE key = $1 AND status = ${PENDING} AND body = $2`, [key, seen.body, encodePending(owner, seen.accepted)]))
        .rowCount ?? 0) === 1,
    async finish(key, status, body, owner) {
      if (status === PENDING) throw new Error('a 202 is not a final answer');
      if (owner) await pool.query(`UPDATE idempotency SET status = $2, body = $3 WHERE key = $1 AND ${ownedBy(4)}`, [key, status, body, owner]);
      else await updatePending(key, status, body);
    },
    forget: async (key, owner) =>
      void (await (owner ? pool.query(`DELETE FROM idempotency WHERE key = $1 AND ${ownedBy(2)}`, [key, owner]) : pool.query('DELETE FROM idempotency WHERE key = $1', [key]))),
    release: async (key, at, owner) =>
      void (await (owner
        ? pool.query(`UPDATE idempotency SET body = $2 WHERE key = $1 AND ${ownedBy(3)}`, [key, encodePending(null, at), owner])
        : updatePending(key, PENDING, encodePending(null, at)))),
    prune: async (before) => (await pool.query('DELETE FROM idempotency WHERE created_at < $1', [before])).rowCount ?? 0,
  };
}

const QUALIFIES = "state = 'revoked' AND revoked_at < $1 AND next_pending_at IS NULL AND busy = 0";

export function createPgRetentionStore(pool: pg.Pool): RetentionPort {
  return {
    expired: async (cutoff, limit, after) =>
      (
        await pool.query<ExpiredLifecycle>(
          `SELECT id, subscriber_id, revoked_at FROM lifecycles
           WHERE ${QUALIFIES} AND (revoked_at, id) > ($3, $4) ORDER BY revoked_at, id LIMIT $2`,
          [cutoff, limit, after?.revoked_at ?? '', after?.id ?? ''],
        )
      ).rows,
    // The condition again: the row may have changed since it was listed (on another instance too).
    remove: (ids, cutoff) =>
      inTransaction(pool, async (c) => (await c.query(`DELETE FROM lifecycles WHERE id = ANY($2::text[]) AND ${QUALIFIES}`, [cutoff, [...ids]])).rowCount ?? 0),
  };
}
