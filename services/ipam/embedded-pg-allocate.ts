// The statements of an allocation on PostgreSQL, fewer round trips under the pool's row lock: each
// one the pool's lock is held for serializes every instance's allocations of that pool. Each runs
// after the lock is taken, in a statement of its own, so (READ COMMITTED) its snapshot sees what the
// lock's previous holder committed; the lock itself cannot share a statement with them.
import type pg from 'pg';
import { alignUp, blockSize, fromHex, lastAddress, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { expiredBatch } from './embedded-pg-quarantine.ts';

type Q = Pick<pg.PoolClient, 'query'>;
type Run = { start_hex: string; end_hex: string };
/** The key's allocation, if any. */
export type KeyRow = { pool: string; prefix: string; prefix_length: number; lifecycle_id: string };

/** A free-run page's size, as embedded-pg-free.ts takeFirstFit pages. */
export const RUN_PAGE = 100;

// One statement for all an allocation reads before it carves: $1 the key's allocation (k 0); else,
// when $4, the subscriber's latest freed block of length $5 (k 1, as PG_QUARANTINE.stickyFor); and
// when neither answers (no key, no sticky block inside the parent [$6, $7]), PG_QUARANTINE.takeExpired's
// batch ($8 now, $9 limit: k 2) and the pool's first page of free runs (k 3). The runs are read in the
// snapshot of the delete, before any block taken is given back: the free space only when none was.
const LOOK_UP_OR_TAKE = `WITH found AS (SELECT pool, prefix, prefix_length, lifecycle_id FROM ipam_allocations WHERE key = $1),
  back AS (SELECT prefix, start_hex, end_hex FROM ipam_quarantine
    WHERE $4::boolean AND pool = $2 AND subscriber_id = $3 AND freed_at IS NOT NULL AND masklen(block) = $5::int ORDER BY released_at DESC LIMIT 1),
  neither AS (SELECT NOT EXISTS (SELECT 1 FROM found) AND NOT EXISTS (SELECT 1 FROM back WHERE start_hex >= $6::text AND end_hex <= $7::text) AS go),
  taken AS (DELETE FROM ipam_quarantine WHERE pool = $2 AND start_hex = ANY(${expiredBatch('$2', '$8', '$9')}) AND (SELECT go FROM neither)
    RETURNING prefix, start_hex)
  SELECT 0 AS k, pool, prefix, prefix_length, lifecycle_id, NULL::text AS start_hex, NULL::text AS end_hex FROM found
  UNION ALL SELECT 1, NULL, prefix, NULL, NULL, start_hex, end_hex FROM back
  UNION ALL SELECT 2, NULL, prefix, NULL, NULL, start_hex, NULL FROM taken
  UNION ALL (SELECT 3, NULL, NULL, NULL, NULL, start_hex, end_hex FROM ipam_free WHERE pool = $2 AND (SELECT go FROM neither) ORDER BY start_hex LIMIT ${RUN_PAGE})`;

// The run $2 carved: cut to end at $3 (or deleted when $3 is null), what follows the block ($4..$5)
// a run of its own, and the block inserted. The three change different rows (the run after the block
// starts past $2), so the order PostgreSQL runs them in does not matter.
const CARVE_AND_INSERT = `WITH shrunk AS (UPDATE ipam_free SET end_hex = $3 WHERE pool = $1 AND start_hex = $2 AND $3::text IS NOT NULL),
  cut AS (DELETE FROM ipam_free WHERE pool = $1 AND start_hex = $2 AND $3::text IS NULL),
  rest AS (INSERT INTO ipam_free (pool, start_hex, end_hex) SELECT $1, $4::text, $5::text WHERE $4::text IS NOT NULL)
  INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
  VALUES ($1, $6, $7, $8, $9, $10, $11, $12, $13)`;

/** What an allocation reads under the pool's lock, and the expired hold-downs it takes out (see LOOK_UP_OR_TAKE). */
export interface LookedUp {
  found?: KeyRow;
  /** The subscriber's block to give back, when `found` is not (inside the parent or not: the caller checks). */
  back: Ipv6Prefix | null;
  /** Taken out of the quarantine, in address order: for the caller to give back. */
  taken: Ipv6Prefix[];
  /** The first page of free runs: the pool's free space when nothing was taken. */
  runs: Run[];
}

export async function lookUpOrTake(
  c: Q,
  cmd: { key: string; pool: string; subscriberId: string; prefixLength: number },
  sticky: boolean,
  parent: Ipv6Prefix,
  now: string,
  limit: number,
): Promise<LookedUp> {
  type Row = { k: number; pool: string; prefix: string; prefix_length: number; lifecycle_id: string; start_hex: string; end_hex: string };
  const { rows } = await c.query<Row>(LOOK_UP_OR_TAKE, [cmd.key, cmd.pool, cmd.subscriberId, sticky, cmd.prefixLength, toHex(parent.network), toHex(lastAddress(parent)), now, limit]);
  const of = (k: number) => rows.filter((r) => r.k === k);
  const found = of(0)[0];
  const back = of(1)[0];
  const taken = of(2).sort((a, b) => (a.start_hex < b.start_hex ? -1 : 1));
  return {
    found: found && { pool: found.pool, prefix: found.prefix, prefix_length: found.prefix_length, lifecycle_id: found.lifecycle_id },
    back: back ? parsePrefix(back.prefix) : null,
    taken: taken.map((r) => parsePrefix(r.prefix)),
    runs: of(3).map((r) => ({ start_hex: r.start_hex, end_hex: r.end_hex })),
  };
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
