import type { Db } from '../../store/db.ts';
import { meetingRange, nextPool } from './meeting-range.ts';

const SQLITE = { pool: '@pool', first: '@first_hex', last: '@last_hex' };
/** The pool after @after with a block or a quarantined block. */
export const NEXT_POOL = nextPool('ipam_blocks', '@after');
/** How many blocks of @pool, allocated or quarantined (not yet freed), meet [@first_hex, @last_hex]. */
export const HELD_IN_RANGE = `SELECT count(*) AS n FROM (${meetingRange({ table: 'ipam_blocks', columns: '1', ...SQLITE })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: '1', ...SQLITE, also: ' AND freed_at IS NULL' })})`;

/**
 * The first pool but `pool` (in name order) still holding blocks that meet [first, last], and how
 * many, or undefined. Pool by pool, each a seek: `pool <> @pool` bounded no index, so each pool
 * configured read every block of every other pool at start-up.
 */
export function createOthersHeld(db: Db): (pool: string, firstHex: string, lastHex: string) => { pool: string; n: number } | undefined {
  const next = db.prepare<{ after: string }, { pool: string | null }>(NEXT_POOL);
  const held = db.prepare<{ pool: string; first_hex: string; last_hex: string }, { n: number }>(HELD_IN_RANGE);
  return (pool, firstHex, lastHex) => {
    for (let other = next.get({ after: '' })?.pool; other != null; other = next.get({ after: other })?.pool) {
      if (other === pool) continue;
      const { n } = held.get({ pool: other, first_hex: firstHex, last_hex: lastHex })!;
      if (n > 0) return { pool: other, n };
    }
    return undefined;
  };
}
