import type { PoolUtilization } from '../services/ipam/port.ts';
import type { PoolFlow } from '../store/counts.ts';

const WEEK_MS = 7 * 86_400_000;
/** A service younger than this has too little history: its rate is taken over an hour at least. */
const MIN_WINDOW_MS = 3_600_000;

/** Units of the pool's delegated length that one prefix of `length` takes (a /48 in a /56 pool is 256). */
const unitsOf = (poolLength: number, length: number) => (length >= poolLength ? 1 : 2 ** (poolLength - length));

/**
 * Seconds until the pool is full at the net rate (prefixes allocated minus revoked, in units) of
 * the last 7 days, or of the time since the oldest figure if that is shorter; +Inf when the pool
 * is not growing. `flows` are every pool's figures since 7 days ago (store/counts.ts).
 */
export function exhaustionForecast(u: PoolUtilization, flows: readonly PoolFlow[], nowMs: number): number {
  const free = u.capacity - u.allocated;
  let net = 0;
  let oldest = nowMs;
  for (const f of flows) {
    if (f.pool !== u.name) continue;
    net += (f.allocated - f.revoked) * unitsOf(u.prefixLength, f.prefix_length);
    oldest = Math.min(oldest, Date.parse(`${f.since}:00:00.000Z`));
  }
  if (net <= 0) return Infinity;
  if (free <= 0) return 0;
  const windowMs = Math.max(MIN_WINDOW_MS, Math.min(WEEK_MS, nowMs - oldest));
  return free / (net / (windowMs / 1000));
}
