// The free space of the embedded IPAM on PostgreSQL: maximal free runs in ipam_free, kept as
// embedded-free.ts keeps them in SQLite. Call inside a write of the pool (its lock held).
import type pg from 'pg';
import { alignUp, blockSize, fromHex, lastAddress, toHex } from '../ipv6.ts';
import { TAKEN_MEETING_RANGE } from './embedded-pg-meeting.ts';
import type { Pool } from './pool-rules.ts';

type Q = Pick<pg.PoolClient, 'query'>;
type Run = { start_hex: string; end_hex: string };

export async function addRun(c: Q, pool: string, start: bigint, end: bigint): Promise<void> {
  if (start <= end) await c.query('INSERT INTO ipam_free (pool, start_hex, end_hex) VALUES ($1, $2, $3)', [pool, toHex(start), toHex(end)]);
}

export async function deleteRun(c: Q, pool: string, startHex: string): Promise<void> {
  await c.query('DELETE FROM ipam_free WHERE pool = $1 AND start_hex = $2', [pool, startHex]);
}

/** The pool's free runs again from its blocks and quarantine, inside its (possibly moved) parent. */
export async function rebuild(c: Q, { info, parent }: Pool): Promise<void> {
  const last = lastAddress(parent);
  await c.query('DELETE FROM ipam_free WHERE pool = $1', [info.name]);
  const { rows } = await c.query<Run>(
    TAKEN_MEETING_RANGE,
    [info.name, toHex(parent.network), toHex(last)],
  );
  let next = parent.network;
  for (const block of rows) {
    const start = fromHex(block.start_hex);
    if (start > next) await addRun(c, info.name, next, start - 1n);
    const after = fromHex(block.end_hex) + 1n;
    if (after > next) next = after;
  }
  if (next <= last) await addRun(c, info.name, next, last);
}

/** [start, end] becomes free, merged with the runs it touches. */
export async function giveBack(c: Q, pool: Pool, start: bigint, end: bigint): Promise<void> {
  const name = pool.info.name;
  const before = (await c.query<Run>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 AND start_hex < $2 ORDER BY start_hex DESC LIMIT 1', [name, toHex(start)])).rows[0];
  if (before && fromHex(before.end_hex) + 1n === start) {
    await deleteRun(c, name, before.start_hex);
    start = fromHex(before.start_hex);
  }
  const after = end < lastAddress(pool.parent) ? (await c.query<Run>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 AND start_hex = $2', [name, toHex(end + 1n)])).rows[0] : undefined;
  if (after) {
    await deleteRun(c, name, after.start_hex);
    end = fromHex(after.end_hex);
  }
  await addRun(c, name, start, end);
}

/** First fit, a page of runs at a time (a pool that delegates one length fits in the first), from the runs past `after`: the block's address, carved out; null when none fits. */
export async function takeFirstFit(c: Q, pool: string, prefixLength: number, after = ''): Promise<bigint | null> {
  const size = blockSize(prefixLength);
  for (;;) {
    const { rows } = await c.query<Run>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 AND start_hex > $2 ORDER BY start_hex LIMIT 100', [pool, after]);
    for (const run of rows) {
      const start = fromHex(run.start_hex);
      const end = fromHex(run.end_hex);
      const at = alignUp(start, prefixLength);
      if (at + size - 1n <= end) {
        await deleteRun(c, pool, run.start_hex);
        await addRun(c, pool, start, at - 1n);
        await addRun(c, pool, at + size, end);
        return at;
      }
    }
    if (rows.length < 100) return null;
    after = rows.at(-1)!.start_hex;
  }
}
