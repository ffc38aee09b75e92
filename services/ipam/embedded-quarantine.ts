import type { Db } from '../../store/db.ts';
import { formatPrefix, lastAddress, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';

/** The hold-down of a pool that names none, as the configuration's `pools[].hold_down_s` default. */
export const DEFAULT_HOLD_DOWN_S = 600;

/** Each pool's hold-down in milliseconds, checked once at start-up. */
export function holdDownsOf(pools: ReadonlyArray<{ name: string; holdDownS?: number }>): Map<string, number> {
  const byName = new Map<string, number>();
  for (const { name, holdDownS = DEFAULT_HOLD_DOWN_S } of pools) {
    if (!Number.isInteger(holdDownS) || holdDownS < 0) throw new Error(`ipam: pool "${name}" has hold-down ${holdDownS}; want whole seconds >= 0`);
    byName.set(name, holdDownS * 1000);
  }
  return byName;
}

/** Released blocks waiting out their hold-down in `ipam_quarantine`; call inside the IPAM's transactions. */
export interface Quarantine {
  hold(pool: string, block: Ipv6Prefix, lifecycleId: string, holdMs: number): void;
  /** Deletes and returns the pool's blocks whose hold-down has passed, in address order. */
  takeExpired(pool: string): Ipv6Prefix[];
  /** How many of the pool's blocks starting within the range are still held down. */
  countHeld(range: { pool: string; first_hex: string; last_hex: string }): number;
}

export function createQuarantine(db: Db, now: () => number): Quarantine {
  const insert = db.prepare(
    `INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, released_at, reusable_at)
     VALUES (@pool, @start_hex, @end_hex, @prefix, @lifecycle_id, @released_at, @reusable_at)`,
  );
  const expiredOfPool = db.prepare<{ pool: string; now: string }, { prefix: string }>(
    'SELECT prefix FROM ipam_quarantine WHERE pool = @pool AND reusable_at <= @now ORDER BY start_hex',
  );
  const deleteExpiredOfPool = db.prepare('DELETE FROM ipam_quarantine WHERE pool = @pool AND reusable_at <= @now');
  const countHeldInRange = db.prepare<{ pool: string; first_hex: string; last_hex: string; now: string }, { n: number }>(
    `SELECT count(*) AS n FROM ipam_quarantine
     WHERE pool = @pool AND start_hex >= @first_hex AND start_hex <= @last_hex AND reusable_at > @now`,
  );
  const iso = (ms: number) => new Date(ms).toISOString();

  return {
    hold(pool, block, lifecycleId, holdMs) {
      const released = now();
      insert.run({
        pool,
        start_hex: toHex(block.network),
        end_hex: toHex(lastAddress(block)),
        prefix: formatPrefix(block),
        lifecycle_id: lifecycleId,
        released_at: iso(released),
        reusable_at: iso(released + holdMs),
      });
    },
    takeExpired(pool) {
      const at = { pool, now: iso(now()) };
      const rows = expiredOfPool.all(at);
      if (rows.length > 0) deleteExpiredOfPool.run(at);
      return rows.map((r) => parsePrefix(r.prefix));
    },
    countHeld: (range) => countHeldInRange.get({ ...range, now: iso(now()) })?.n ?? 0,
  };
}
