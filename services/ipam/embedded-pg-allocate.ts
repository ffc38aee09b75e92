// The statements of an allocation on PostgreSQL, fewer round trips under the pool's row lock: each
// one the pool's lock is held for serializes every instance's allocations of that pool. Each runs
// after the lock is taken, in a statement of its own, so (READ COMMITTED) its snapshot sees what the
// lock's previous holder committed; the lock itself cannot share a statement with them.
import type pg from 'pg';
import { alignUp, blockSize, fromHex, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { PG_QUARANTINE } from './embedded-pg-quarantine.ts';

type Q = Pick<pg.PoolClient, 'query'>;
type Run = { start_hex: string; end_hex: string };
/** The key's allocation, if any. */
export type KeyRow = { pool: string; prefix: string; prefix_length: number; lifecycle_id: string };

/** A free-run page's size, as embedded-pg-free.ts takeFirstFit pages. */
export const RUN_PAGE = 100;

// $1 key; $2 pool, $3 subscriber, $4 whether to look for a sticky block. The key's row first, then
// PG_QUARANTINE.stickyFor's rows in its order (the latest released first).
const LOOKUP = `SELECT 0 AS k, pool, prefix, prefix_length, lifecycle_id, NULL::text AS released_at FROM ipam_allocations WHERE key = $1
  UNION ALL SELECT 1, pool, prefix, NULL, NULL, released_at FROM ipam_quarantine
    WHERE $4::boolean AND pool = $2 AND subscriber_id = $3 AND freed_at IS NOT NULL
  ORDER BY k, released_at DESC`;

// PG_QUARANTINE.takeExpired ($1 pool, $2 now, $3 limit) and the pool's first page of free runs. The
// runs are read in the same snapshot as the delete, before any block taken is given back: they are
// the pool's free space only when nothing was taken.
const EXPIRED_AND_RUNS = `WITH taken AS (${PG_QUARANTINE.takeExpired})
  SELECT prefix, start_hex, NULL::text AS end_hex FROM taken
  UNION ALL (SELECT NULL, start_hex, end_hex FROM ipam_free WHERE pool = $1 ORDER BY start_hex LIMIT ${RUN_PAGE})`;

// The run $2 carved: cut to end at $3 (or deleted when $3 is null), what follows the block ($4..$5)
// a run of its own, and the block inserted. The three change different rows (the run after the block
// starts past $2), so the order PostgreSQL runs them in does not matter.
const CARVE_AND_INSERT = `WITH shrunk AS (UPDATE ipam_free SET end_hex = $3 WHERE pool = $1 AND start_hex = $2 AND $3::text IS NOT NULL),
  cut AS (DELETE FROM ipam_free WHERE pool = $1 AND start_hex = $2 AND $3::text IS NULL),
  rest AS (INSERT INTO ipam_free (pool, start_hex, end_hex) SELECT $1, $4::text, $5::text WHERE $4::text IS NOT NULL)
  INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
  VALUES ($1, $6, $7, $8, $9, $10, $11, $12, $13)`;

/** The key's allocation, or (when `sticky`) the subscriber's latest freed block of `length`: one statement. */
export async function lookUp(c: Q, key: string, pool: string, subscriberId: string, sticky: boolean, length: number): Promise<{ found?: KeyRow; back: Ipv6Prefix | null }> {
  const { rows } = await c.query<KeyRow & { k: number }>(LOOKUP, [key, pool, subscriberId, sticky]);
  if (rows[0]?.k === 0) return { found: rows[0], back: null };
  for (const r of rows) {
    const block = parsePrefix(r.prefix);
    if (block.length === length) return { back: block };
  }
  return { back: null };
}

/** The expired hold-downs taken (at most `limit`, in address order) and, when none was, the first page of free runs. */
export async function takeExpiredAndRuns(c: Q, pool: string, now: string, limit: number): Promise<{ taken: Ipv6Prefix[]; runs: Run[] }> {
  const { rows } = await c.query<{ prefix: string | null; start_hex: string; end_hex: string | null }>(EXPIRED_AND_RUNS, [pool, now, limit]);
  const taken = rows.filter((r) => r.prefix !== null).sort((a, b) => (a.start_hex < b.start_hex ? -1 : 1));
  return { taken: taken.map((r) => parsePrefix(r.prefix!)), runs: rows.filter((r) => r.prefix === null) as Run[] };
}

/** A place in `runs` for a block of `prefixLength` (first fit), or null. */
export function fitIn(runs: Run[], prefixLength: number): { run: Run; at: bigint } | null {
  const size = blockSize(prefixLength);
  for (const run of runs) {
    const at = alignUp(fromHex(run.start_hex), prefixLength);
    if (at + size - 1n <= fromHex(run.end_hex)) return { run, at };
  }
  return null;
}

/** The block at `at` carved out of `run` and inserted as the allocation `values` (its columns from prefix on): one statement. */
export async function carveAndInsert(c: Q, pool: string, run: Run, at: bigint, prefixLength: number, values: unknown[]): Promise<void> {
  const start = fromHex(run.start_hex);
  const end = fromHex(run.end_hex);
  const after = at + blockSize(prefixLength);
  await c.query(CARVE_AND_INSERT, [
    pool,
    run.start_hex,
    at > start ? toHex(at - 1n) : null,
    after <= end ? toHex(after) : null,
    after <= end ? toHex(end) : null,
    toHex(at),
    toHex(after - 1n),
    ...values,
  ]);
}
