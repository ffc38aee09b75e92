// The embedded IPAM's statements on PostgreSQL that find what meets a range of a pool, each as
// meeting-range.ts builds it (the rows starting inside, and the one row below), as in SQLite.
import type pg from 'pg';
import { meetingRange, nextPool } from './meeting-range.ts';

type Q = Pick<pg.PoolClient, 'query'>;
const PG = { pool: '$1', first: '$2', last: '$3' };

/** An adoption's range [$2, $3] of pool $1: held by anything but a block whose hold-down passed at $4. */
export const HELD_BESIDES_EXPIRED = `${meetingRange({ table: 'ipam_allocations', columns: '1', ...PG })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: '1', ...PG, also: ' AND reusable_at > $4' })} LIMIT 1`;
/** The blocks of pool $1 meeting [$2, $3] whose hold-down passed at $4, taken out of the quarantine. */
export const TAKE_EXPIRED_IN = `DELETE FROM ipam_quarantine WHERE pool = $1 AND start_hex IN (
  ${meetingRange({ table: 'ipam_quarantine', columns: 'start_hex', ...PG, also: ' AND reusable_at <= $4' })}) RETURNING prefix`;
/** The lifecycle of an allocated block of pool $1 meeting [$2, $3], for a refusal to name. */
export const HOLDER_IN_RANGE = `${meetingRange({ table: 'ipam_allocations', columns: 'lifecycle_id', ...PG })} LIMIT 1`;
/** The blocks and quarantined blocks of pool $1 meeting [$2, $3], in address order (the rebuild's walk of a parent). */
export const TAKEN_MEETING_RANGE = `${meetingRange({ table: 'ipam_allocations', columns: 'start_hex, end_hex', ...PG })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: 'start_hex, end_hex', ...PG })}
  ORDER BY start_hex`;
/** The pool after $1 with a block or a quarantined block. */
export const NEXT_POOL = nextPool('ipam_allocations', '$1');
/** How many blocks of pool $1, allocated or quarantined (not yet freed), meet [$2, $3]. */
export const HELD_IN_RANGE = `SELECT count(*)::int AS n FROM (${meetingRange({ table: 'ipam_allocations', columns: '1', ...PG })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: '1', ...PG, also: ' AND freed_at IS NULL' })}) AS u`;

/**
 * The first pool but `pool` (in name order) still holding blocks that meet [first, last], and how
 * many, or undefined: pool by pool, each a seek, where `pool <> $1` read every other pool's blocks.
 */
export async function othersHeld(c: Q, pool: string, firstHex: string, lastHex: string): Promise<{ pool: string; n: number } | undefined> {
  const next = async (after: string) => (await c.query<{ pool: string | null }>(NEXT_POOL, [after])).rows[0]?.pool ?? null;
  for (let other = await next(''); other !== null; other = await next(other)) {
    if (other === pool) continue;
    const n = (await c.query<{ n: number }>(HELD_IN_RANGE, [other, firstHex, lastHex])).rows[0]!.n;
    if (n > 0) return { pool: other, n };
  }
  return undefined;
}
