// embedded-counts.ts on PostgreSQL (migration 008): the figures utilization() reads, kept by the
// triggers of ipam_allocations and ipam_quarantine under the pool's row lock, and their recount
// when a pool's parent or delegated length changes.
import type pg from 'pg';
import { lastAddress, toHex } from '../ipv6.ts';
import type { PoolCounts, PoolFigures } from './embedded-counts.ts';
import type { Pool } from './pool-rules.ts';

type Q = Pick<pg.PoolClient, 'query'>;

/** $1 pool, $2 first_hex, $3 last_hex, $4 the unit length. */
const INSIDE = 'start_hex >= $2 AND start_hex <= $3 AND end_hex <= $3';

// One statement, so one snapshot: the kept counts and the blocks whose hold-down has passed (which
// wait in the quarantine for the pool's next allocation or sweep, and are taken back out of the counts),
// read by the expiry index and summed by the server.
const FIGURES = `
  WITH expired AS (SELECT block FROM ipam_quarantine WHERE pool = $1 AND reusable_at <= $5 AND ${INSIDE}),
  split AS (SELECT set_masklen(block, $4::int) AS unit, count(*) AS n FROM expired WHERE masklen(block) > $4::int GROUP BY 1)
  SELECT p.whole_allocated, p.whole_quarantined, p.split_units, p.split_quarantined, p.outside, p.moved_from,
    (SELECT coalesce(sum(1::bigint << ($4::int - masklen(block))), 0) FROM expired WHERE masklen(block) <= $4::int) AS whole,
    (SELECT count(*) FROM split JOIN ipam_split_units AS s ON s.pool = $1 AND s.unit = split.unit WHERE s.allocated + s.quarantined = split.n) AS freed,
    (SELECT count(*) FROM split JOIN ipam_split_units AS s ON s.pool = $1 AND s.unit = split.unit WHERE s.quarantined = split.n) AS unheld
  FROM ipam_pools AS p WHERE p.pool = $1`;

const params = ({ info, parent }: Pool) => [info.name, toHex(parent.network), toHex(lastAddress(parent)), info.prefixLength];

export const pgPoolCounts = {
  /** The parent and the length the pool's figures were counted for (see PoolCounts). */
  async countedFor(c: Q, pool: string): Promise<ReturnType<PoolCounts['countedFor']>> {
    const row = (await c.query<{ parent: string; unit_length: number | null }>('SELECT parent, unit_length FROM ipam_pools WHERE pool = $1', [pool])).rows[0];
    return row && { parent: row.parent, unitLength: row.unit_length };
  },

  /** PoolCounts.recount, on the connection that holds the pool's row lock. */
  async recount(c: Q, pool: Pool): Promise<void> {
    const p = params(pool);
    await c.query(
      `UPDATE ipam_pools SET parent = $5, first_hex = $2, last_hex = $3, unit_length = $4,
         moved_from = CASE WHEN parent NOT IN ('', $5) THEN parent ELSE moved_from END
       WHERE pool = $1`,
      [...p, pool.info.prefix],
    );
    await c.query('DELETE FROM ipam_split_units WHERE pool = $1', [p[0]]);
    await c.query(
      `INSERT INTO ipam_split_units (pool, unit, allocated, quarantined)
       SELECT $1, set_masklen(block, $4::int), count(*) FILTER (WHERE allocated), count(*) FILTER (WHERE NOT allocated) FROM (
         SELECT block, true AS allocated FROM ipam_allocations WHERE pool = $1 AND ${INSIDE} AND prefix_length > $4::int
         UNION ALL SELECT block, false FROM ipam_quarantine WHERE pool = $1 AND ${INSIDE} AND masklen(block) > $4::int) AS b
       GROUP BY 2`,
      p,
    );
    // Ranges of the (pool, start_hex) keys: inside the parent, and before and after it.
    await c.query(
      `UPDATE ipam_pools SET
         whole_allocated = (SELECT coalesce(sum(1::bigint << ($4::int - prefix_length)), 0) FROM ipam_allocations WHERE pool = $1 AND ${INSIDE} AND prefix_length <= $4::int),
         whole_quarantined = (SELECT coalesce(sum(1::bigint << ($4::int - masklen(block))), 0) FROM ipam_quarantine WHERE pool = $1 AND ${INSIDE} AND masklen(block) <= $4::int),
         split_units = (SELECT count(*) FROM ipam_split_units WHERE pool = $1),
         split_quarantined = (SELECT count(*) FROM ipam_split_units WHERE pool = $1 AND quarantined > 0),
         outside = (SELECT count(*) FROM ipam_allocations WHERE pool = $1 AND start_hex < $2)
           + (SELECT count(*) FROM ipam_allocations WHERE pool = $1 AND start_hex > $3)
           + (SELECT count(*) FROM ipam_allocations WHERE pool = $1 AND start_hex >= $2 AND start_hex <= $3 AND end_hex > $3)
       WHERE pool = $1`,
      p,
    );
  },

  /** PoolCounts.figures: one statement, a row per pool (its counts are BIGINT, text to node-postgres). */
  async figures(c: Q, pool: Pool, now: string): Promise<PoolFigures> {
    const { rows } = await c.query<Record<'whole_allocated' | 'whole_quarantined' | 'split_units' | 'split_quarantined' | 'outside' | 'whole' | 'freed' | 'unheld', string> & { moved_from: string | null }>(
      FIGURES,
      [...params(pool), now],
    );
    const r = rows[0];
    if (!r) throw new Error(`ipam: pool "${pool.info.name}" was never counted`);
    const n = (k: Exclude<keyof typeof r, 'moved_from'>) => Number(r[k]);
    return {
      allocated: n('whole_allocated') + n('whole_quarantined') - n('whole') + n('split_units') - n('freed') + n('outside'),
      heldDown: n('whole_quarantined') - n('whole') + n('split_quarantined') - n('unheld'),
      outside: n('outside'),
      movedFrom: r.moved_from,
    };
  },
};
