// The kept figures on PostgreSQL (migration 002 keeps them): store/counts.ts's reads and the leak
// records, in PostgreSQL's dialect.
import type pg from 'pg';
import { FAILED_COLUMNS, LEAK_CHECK_KEYS, type FailedRow, type LeakRecord, type PoolFlow } from '../counts.ts';
import type { CountsPort } from '../port.ts';
import { inTransaction } from './pool.ts';

/** The forecast's read: pool_tally_hour (migration 007), over the 8 days the table keeps. */
export const FLOWS = `
  SELECT pool, prefix_length, sum(allocated)::int8 AS allocated, sum(revoked)::int8 AS revoked, min(hour) AS since
  FROM pool_tally WHERE hour >= $1 GROUP BY pool, prefix_length`;

/** The leak check's pages of failed lifecycles on lifecycles_state (state, created_at, id), as on SQLite (store/counts.ts says why). */
export const FAILED_PAGE = {
  first: `SELECT ${FAILED_COLUMNS} FROM lifecycles WHERE state = 'failed' ORDER BY created_at, id LIMIT $1`,
  next: `SELECT ${FAILED_COLUMNS} FROM lifecycles WHERE state = 'failed' AND (created_at, id) > ($2, $3) ORDER BY created_at, id LIMIT $1`,
} as const;

export function createPgMetricCounts(pool: pg.Pool): CountsPort {
  const maybe = async (key: string) => (await pool.query<{ n: number }>('SELECT n FROM lifecycle_counts WHERE key = $1', [key])).rows[0]?.n;
  const one = async (key: string) => (await maybe(key)) ?? 0;
  return {
    byState: async () =>
      Object.fromEntries(
        (await pool.query<{ key: string; n: number }>("SELECT key, n FROM lifecycle_counts WHERE key >= 'state:' AND key < 'state;'")).rows.map((r) => [
          r.key.slice('state:'.length),
          r.n,
        ]),
      ),
    pending: () => one('pending'),
    shared: () => one('shared'),
    leaksCounted: () => one('leaks'),
    flows: async (sinceHour) => (await pool.query<PoolFlow>(FLOWS, [sinceHour])).rows,
    leak: async (lifecycleId, prefix) =>
      (await pool.query<LeakRecord>('SELECT * FROM prefix_leaks WHERE lifecycle_id = $1 AND prefix = $2', [lifecycleId, prefix])).rows[0],
    failedPage: async (limit, after) =>
      (after ? await pool.query<FailedRow>(FAILED_PAGE.next, [limit, after.created_at, after.id]) : await pool.query<FailedRow>(FAILED_PAGE.first, [limit])).rows,
    replaceUncounted: (records) =>
      inTransaction(pool, async (c) => {
        await c.query('DELETE FROM prefix_leaks WHERE counted_at IS NULL');
        // A record already counted is never touched again: counted once, whatever later checks say.
        for (const r of records) {
          await c.query(
            `INSERT INTO prefix_leaks (lifecycle_id, prefix, pool, first_seen_at, counted_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (lifecycle_id, prefix) DO UPDATE SET counted_at = excluded.counted_at WHERE prefix_leaks.counted_at IS NULL`,
            [r.lifecycle_id, r.prefix, r.pool, r.first_seen_at, r.counted_at],
          );
        }
      }),
    lastLeakCheck: async () => {
      const [leaked, at] = [await maybe(LEAK_CHECK_KEYS.leaked), await maybe(LEAK_CHECK_KEYS.at)];
      return leaked === undefined || at === undefined ? null : { leaked: Number(leaked), at: Number(at) };
    },
    saveLeakCheck: async (check) => {
      await pool.query('INSERT INTO lifecycle_counts (key, n) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO UPDATE SET n = excluded.n', [
        LEAK_CHECK_KEYS.leaked,
        check.leaked,
        LEAK_CHECK_KEYS.at,
        check.at,
      ]);
    },
  };
}
