// The rows of one pool in one table that meet a range [first, last], in either dialect. Rows of a
// pool in a table never overlap (ipam_blocks_no_overlap and ipam_blocks_not_quarantined, the
// quarantine's trigger of migration 003, PostgreSQL's exclusion constraints), so they are the rows
// starting inside the range, a bounded index range, and at most one more: the nearest starting
// below it, when it reaches in. `start_hex <= last AND end_hex >= first` bounded the index above
// only and walked every row of the pool below `last`: 140 ms for one adoption's check near the top
// of a pool of 1,000,000 blocks, against 0.07 ms for the seek of the row below.
import { NESTED_LIMIT } from './port.ts';

/** Where a table's rows of one pool meet a range: placeholders (`@pool` or `$1`) and SQL text. */
export interface MeetingRange {
  table: string;
  /** The select list of both arms. */
  columns: string;
  pool: string;
  first: string;
  last: string;
  /** More conditions on the rows (` AND …`), applied to the row below after its seek. */
  also?: string;
}

/**
 * Two arms of a compound SELECT (UNION ALL), the row below first. Alone the arms come in no
 * promised order: add ORDER BY start_hex (and select it) where the order matters.
 */
export function meetingRange({ table, columns, pool, first, last, also = '' }: MeetingRange): string {
  // `also` outside the LIMIT 1: inside, the seek would walk down past every row that fails it.
  return `SELECT ${columns} FROM (SELECT * FROM ${table} WHERE pool = ${pool} AND start_hex < ${first} ORDER BY start_hex DESC LIMIT 1) AS below WHERE end_hex >= ${first}${also}
  UNION ALL SELECT ${columns} FROM ${table} WHERE pool = ${pool} AND start_hex >= ${first} AND start_hex <= ${last}${also}`;
}

/**
 * IpamPort.nestedHeld's read: the allocated blocks meeting a range in address order, one more than
 * NESTED_LIMIT, since the range's own block (held exactly) is among them; `nestedOf` leaves it out.
 */
export const nestingRange = (table: string, at: Pick<MeetingRange, 'pool' | 'first' | 'last'>) =>
  `${meetingRange({ table, columns: 'prefix, start_hex, end_hex, lifecycle_id', ...at })} ORDER BY start_hex LIMIT ${NESTED_LIMIT + 1}`;

/** The rows of `nestingRange` that nest with [first, last]: all but the one that is exactly it, NESTED_LIMIT at most. */
export const nestedOf = <R extends { start_hex: string; end_hex: string }>(rows: readonly R[], firstHex: string, lastHex: string): R[] =>
  rows.filter((r) => r.start_hex !== firstHex || r.end_hex !== lastHex).slice(0, NESTED_LIMIT);

/**
 * The first pool after `after` (a parameter) with a row in `blocks` (the dialect's table) or the
 * quarantine: a seek per table, so going over the pools costs a seek each, not a walk of their
 * rows. Configured names are never empty (config.ts), so '' goes before every pool.
 */
export const nextPool = (blocks: string, after: string) =>
  `SELECT min(pool) AS pool FROM (SELECT min(pool) AS pool FROM ${blocks} WHERE pool > ${after} UNION ALL SELECT min(pool) AS pool FROM ipam_quarantine WHERE pool > ${after}) AS u`;
