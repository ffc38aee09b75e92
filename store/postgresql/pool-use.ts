// Which pools are in use on PostgreSQL: store/pool-use.ts's reads in PostgreSQL's dialect, over
// the lifecycles (NetBox-held prefixes are known only from them) and the embedded IPAM's tables of
// migration 004. Writes nothing.
import type pg from 'pg';
import type { IpamKind } from '../../machines/types.ts';
import { drainingTally } from '../pool-use.ts';
import type { PoolUsePort } from '../port.ts';
import { SNAPSHOT_IPAM_PG } from '../snapshot-codec.ts';

/**
 * The distinct values of an indexed column, one index seek each (a "loose index scan", which
 * PostgreSQL's planner does not do by itself: DISTINCT or GROUP BY would visit every row).
 */
const distinct = (table: string, column: string, name: string) => `
  ${name}(v) AS (
    (SELECT ${column} FROM ${table} ORDER BY ${column} LIMIT 1)
    UNION ALL
    SELECT (SELECT ${column} FROM ${table} WHERE ${column} > ${name}.v ORDER BY ${column} LIMIT 1) FROM ${name} WHERE ${name}.v IS NOT NULL)`;

/** The pools lifecycles name (lifecycles_pool). */
export const LIFECYCLE_POOLS = `WITH RECURSIVE ${distinct('lifecycles', 'pool', 'p')} SELECT v AS pool FROM p WHERE v IS NOT NULL`;
/** Kept by migration 013's counts: a count of the pool's rows read every live one (issue 10). */
export const LIVE_OF_POOL = "SELECT coalesce((SELECT n FROM lifecycle_counts WHERE key = 'pool:' || $1), 0)::int AS n";
/** The IPAMs the pool's live lifecycles name: the row's pool is the current prefix's (else the requested one). */
export const KINDS_OF_POOL = `
  SELECT ${SNAPSHOT_IPAM_PG} AS ipam, max(prefix_length) AS prefix_length
  FROM lifecycles, LATERAL (SELECT snapshot::jsonb AS j) AS s WHERE pool = $1 AND state <> 'revoked' GROUP BY 1`;
/** The pools the embedded IPAM has rows in: the pools of each table by their (pool, start_hex) indexes. */
export const EMBEDDED_POOLS = `
  WITH RECURSIVE ${distinct('ipam_allocations', 'pool', 'a')}, ${distinct('ipam_quarantine', 'pool', 'q')}
  SELECT v AS pool FROM a WHERE v IS NOT NULL UNION SELECT v FROM q WHERE v IS NOT NULL ORDER BY pool`;
/**
 * Of one pool no longer configured, the longest block it holds (allocated, or quarantined and not
 * yet freed; null: none) and the parent it last knew. Asked of those pools alone: for every pool it
 * read every block at each start (issue 10).
 */
export const EMBEDDED_OF_POOL = `
  SELECT (SELECT parent FROM ipam_pools WHERE pool = $1) AS parent, greatest(
    (SELECT max(prefix_length) FROM ipam_allocations WHERE pool = $1),
    (SELECT max(split_part(prefix, '/', 2)::int) FROM ipam_quarantine WHERE pool = $1 AND freed_at IS NULL)) AS prefix_length`;
/** Whether any is left (1, else 0), not how many: a count read every block of the pool. */
export const EMBEDDED_ROWS_OF_POOL = `
  SELECT (EXISTS (SELECT 1 FROM ipam_allocations WHERE pool = $1) OR EXISTS (SELECT 1 FROM ipam_quarantine WHERE pool = $1 AND freed_at IS NULL))::int AS n`;

export function createPgPoolUse(pool: pg.Pool): PoolUsePort {
  const liveOf = async (name: string) => (await pool.query<{ n: number }>(LIVE_OF_POOL, [name])).rows[0]?.n ?? 0;
  return {
    async draining(configured) {
      const tally = drainingTally();
      for (const { pool: name } of (await pool.query<{ pool: string }>(LIFECYCLE_POOLS)).rows) {
        if (configured.has(name)) continue;
        const n = await liveOf(name);
        if (n > 0) tally.lifecycles(name, n, (await pool.query<{ ipam: IpamKind | null; prefix_length: number }>(KINDS_OF_POOL, [name])).rows);
      }
      // A parent of '' is a pool row created before its parent was known (services/ipam/embedded-pg.ts).
      for (const { pool: name } of (await pool.query<{ pool: string }>(EMBEDDED_POOLS)).rows) {
        if (configured.has(name)) continue;
        const { parent, prefix_length } = (await pool.query<{ parent: string | null; prefix_length: number | null }>(EMBEDDED_OF_POOL, [name])).rows[0]!;
        if (prefix_length !== null) tally.embedded(name, parent || null, prefix_length);
      }
      return tally.result();
    },
    users: async (name) => ({
      lifecycles: await liveOf(name),
      blocks: (await pool.query<{ n: number }>(EMBEDDED_ROWS_OF_POOL, [name])).rows[0]?.n ?? 0,
    }),
  };
}
