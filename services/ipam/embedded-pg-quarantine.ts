// The embedded IPAM's quarantine on PostgreSQL (migration 004): embedded-quarantine.ts's
// statements, run on the connection of the IPAM's transaction (which holds the pool's row lock).
import type pg from 'pg';
import { formatPrefix, lastAddress, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { NOT_FREED } from './embedded-quarantine.ts';

type Q = Pick<pg.PoolClient, 'query'>;

/** The statements, by what runs them (test/store/postgresql/query-plans.test.ts checks their plans). */
export const PG_QUARANTINE = {
  free: `UPDATE ipam_quarantine SET freed_at = $4, reusable_at = $5
         WHERE pool = $1 AND start_hex = $2 AND lifecycle_id = $3 AND freed_at IS NULL`,
  heldFor: 'SELECT 1 FROM ipam_quarantine WHERE pool = $1 AND start_hex = $2 AND lifecycle_id = $3 AND freed_at IS NULL',
  drop: 'DELETE FROM ipam_quarantine WHERE pool = $1 AND start_hex = $2',
  stickyFor: 'SELECT prefix FROM ipam_quarantine WHERE pool = $1 AND subscriber_id = $2 AND freed_at IS NOT NULL ORDER BY released_at DESC',
  // LIMIT NULL is no limit. A batch is the lowest addresses, as on SQLite: first fit after an
  // allocation's batch is then first fit over every expired block (test/review14 review-pg-give-back-order).
  // = ANY(ARRAY(...)): each row picked is deleted by its key. IN (subquery) was a hash semi join over
  // a sequential scan of the whole table, every batch: a drain of the sweep quadratic in the table.
  // The pick itself the planner takes by the primary key in address order, filtering the expiry, when
  // most of the pool has expired, and by the expiry index and a sort of the few when not.
  takeExpired: `DELETE FROM ipam_quarantine WHERE pool = $1 AND start_hex = ANY(ARRAY(
           SELECT start_hex FROM ipam_quarantine WHERE pool = $1 AND reusable_at <= $2 ORDER BY start_hex LIMIT $3))
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
    /** Deletes and returns the pool's blocks whose hold-down has passed, in address order; at most `limit` of them when given. */
    async takeExpired(c: Q, pool: string, limit?: number): Promise<Ipv6Prefix[]> {
      const { rows } = await c.query<{ prefix: string; start_hex: string }>(
        PG_QUARANTINE.takeExpired,
        [pool, iso(now()), limit ?? null],
      );
      return rows.sort((a, b) => (a.start_hex < b.start_hex ? -1 : 1)).map((r) => parsePrefix(r.prefix));
    },
  };
}
