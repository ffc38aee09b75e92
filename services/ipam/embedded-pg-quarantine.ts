// The embedded IPAM's quarantine on PostgreSQL (migration 004): embedded-quarantine.ts's
// statements, run on the connection of the IPAM's transaction (which holds the pool's row lock).
import type pg from 'pg';
import { formatPrefix, lastAddress, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { NOT_FREED, SORT_AT_MOST } from './embedded-quarantine.ts';

type Q = Pick<pg.PoolClient, 'query'>;

/**
 * The start_hex of the batch of `pool` whose hold-down passed at `now`, `limit` of them (NULL: all), an
 * array expression, as embedded-quarantine.ts takeExpired picks them: the lowest addresses, unless
 * SORT_AT_MOST or more have expired and SORT_AT_MOST blocks still held lie below the batch; then the
 * longest expired. One statement, the planner chose between the primary key filtered and the expiry
 * index by its statistics, and took the key when a pool's expired are few among its held (review18:
 * 200,000 held under 3,000 expired, 200,000 rows removed by the filter, 48 ms a batch of 64, 44 ms of
 * 500). ORDER BY reusable_at makes the expiry index the one way to the first few; the walk of the
 * key is bounded; a CTE not read (CASE) is never run.
 */
export const expiredBatch = (pool: string, now: string, limit: string) => `(WITH expired AS MATERIALIZED (SELECT start_hex, reusable_at FROM ipam_quarantine
      WHERE pool = ${pool} AND reusable_at <= ${now} ORDER BY reusable_at LIMIT CASE WHEN ${limit}::bigint IS NULL THEN NULL ELSE ${SORT_AT_MOST} END),
    walked AS MATERIALIZED (SELECT start_hex FROM (SELECT start_hex, reusable_at FROM ipam_quarantine WHERE pool = ${pool} ORDER BY start_hex LIMIT ${SORT_AT_MOST}) w
      WHERE reusable_at <= ${now} ORDER BY start_hex LIMIT ${limit})
  SELECT CASE WHEN ${limit}::bigint IS NULL OR (SELECT count(*) FROM expired) < ${SORT_AT_MOST} THEN ARRAY(SELECT start_hex FROM expired ORDER BY start_hex LIMIT ${limit})
    WHEN (SELECT count(*) FROM walked) = ${limit} THEN ARRAY(SELECT start_hex FROM walked)
    ELSE ARRAY(SELECT start_hex FROM expired ORDER BY reusable_at, start_hex LIMIT ${limit}) END)::text[]`;

/** The statements, by what runs them (test/store/postgresql/query-plans.test.ts checks their plans). */
export const PG_QUARANTINE = {
  free: `UPDATE ipam_quarantine SET freed_at = $4, reusable_at = $5
         WHERE pool = $1 AND start_hex = $2 AND lifecycle_id = $3 AND freed_at IS NULL`,
  heldFor: 'SELECT 1 FROM ipam_quarantine WHERE pool = $1 AND start_hex = $2 AND lifecycle_id = $3 AND freed_at IS NULL',
  drop: 'DELETE FROM ipam_quarantine WHERE pool = $1 AND start_hex = $2',
  stickyFor: 'SELECT prefix FROM ipam_quarantine WHERE pool = $1 AND subscriber_id = $2 AND freed_at IS NOT NULL ORDER BY released_at DESC',
  // LIMIT NULL is no limit. = ANY(...): each row picked is deleted by its key. IN (subquery) was a hash
  // semi join over a sequential scan of the whole table, every batch: a drain of the sweep quadratic.
  takeExpired: `DELETE FROM ipam_quarantine WHERE pool = $1 AND start_hex = ANY(${expiredBatch('$1', '$2', '$3')})
         RETURNING prefix, start_hex`,
} as const;
const iso = (ms: number) => new Date(ms).toISOString();

export function pgQuarantine(now: () => number) {
  const insert = (c: Q, pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null, releasedAt: string, freedAt: string | null, reusableAt: string) =>
    c.query(
      `INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [pool, toHex(block.network), toHex(lastAddress(block)), formatPrefix(block), lifecycleId, subscriberId, releasedAt, freedAt, reusableAt],
    );
  return {
    hold: async (c: Q, pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null) =>
      void (await insert(c, pool, block, lifecycleId, subscriberId, iso(now()), null, NOT_FREED)),
    async free(c: Q, pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null, holdMs: number) {
      const t = now();
      const { rowCount } = await c.query(
        PG_QUARANTINE.free,
        [pool, toHex(block.network), lifecycleId, iso(t), iso(t + holdMs)],
      );
      if (!rowCount) await insert(c, pool, block, lifecycleId, subscriberId, iso(t), iso(t), iso(t + holdMs));
    },
    isHeldFor: async (c: Q, pool: string, block: Ipv6Prefix, lifecycleId: string) =>
      (
        await c.query(PG_QUARANTINE.heldFor, [
          pool,
          toHex(block.network),
          lifecycleId,
        ])
      ).rows.length > 0,
    drop: async (c: Q, pool: string, block: Ipv6Prefix) =>
      void (await c.query(PG_QUARANTINE.drop, [pool, toHex(block.network)])),
    async stickyFor(c: Q, pool: string, subscriberId: string, length: number): Promise<Ipv6Prefix | null> {
      const { rows } = await c.query<{ prefix: string }>(
        PG_QUARANTINE.stickyFor,
        [pool, subscriberId],
      );
      for (const r of rows) {
        const block = parsePrefix(r.prefix);
        if (block.length === length) return block;
      }
      return null;
    },
    /** Deletes and returns the pool's blocks whose hold-down has passed, in address order; at most `limit` of them when given (expiredBatch says which). */
    async takeExpired(c: Q, pool: string, limit?: number): Promise<Ipv6Prefix[]> {
      const { rows } = await c.query<{ prefix: string; start_hex: string }>(
        PG_QUARANTINE.takeExpired,
        [pool, iso(now()), limit ?? null],
      );
      return rows.sort((a, b) => (a.start_hex < b.start_hex ? -1 : 1)).map((r) => parsePrefix(r.prefix));
    },
  };
}
