import type { Db } from '../../store/db.ts';
import { formatPrefix, lastAddress, parsePrefix, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { meetingRange } from './meeting-range.ts';

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

/** Rows a batch of takeExpired() reads at most, by either index: the expired it sorts, or the lowest blocks of the pool it walks. */
export const SORT_AT_MOST = 2000;

/** Until a quarantined block is freed, its reusable_at is this: later than any clock. */
export const NOT_FREED = '9999-12-31T23:59:59.999Z';

/**
 * Released blocks in `ipam_quarantine`; call inside the IPAM's transactions. A block is first
 * quarantined (its revocation is still running: RADIUS, sessions or the CPE may carry it), then
 * freed, which starts its hold-down; once that has passed, takeExpired() hands it to free space.
 */
export interface Quarantine {
  /** Quarantines a released block until free(). */
  hold(pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null): void;
  /** Starts the hold-down of a block the lifecycle quarantined, or of a block released and freed at once. */
  free(pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null, holdMs: number): void;
  /** True when the lifecycle's block is quarantined and not freed yet. */
  isHeldFor(pool: string, block: Ipv6Prefix, lifecycleId: string): boolean;
  /** Deletes the quarantined row of the block (freed with hold-down 0, or taken back by its subscriber). */
  drop(pool: string, block: Ipv6Prefix): void;
  /** The subscriber's freed block of this length, newest first: a sticky pool gives it back. */
  stickyFor(pool: string, subscriberId: string, length: number): Ipv6Prefix | null;
  /**
   * Deletes and returns the pool's blocks whose hold-down has passed, in address order; at most `limit`
   * of them when given: the lowest, unless SORT_AT_MOST or more expired lie above SORT_AT_MOST blocks still held (then the longest expired).
   */
  takeExpired(pool: string, limit?: number): Ipv6Prefix[];
  /** Deletes and returns the blocks meeting [start, end] whose hold-down has passed (an adoption's). */
  takeExpiredIn(pool: string, start: bigint, end: bigint): Ipv6Prefix[];
}

// Two statements run on every allocation name their index: without statistics SQLite takes the
// primary key's (pool) prefix for them (the order comes free) and reads every quarantined block of
// the pool, which revocations waiting on an offline CPE and hold-downs fill (8,000 rows: 1.7 ms an
// allocation). INDEXED BY makes the choice, and the statement fails to prepare if the index goes.
/** The blocks of @pool meeting [@first_hex, @last_hex] whose hold-down passed at @now, in address order (an adoption gives them back). */
export const EXPIRED_IN_RANGE = `${meetingRange({ table: 'ipam_quarantine', columns: 'prefix, start_hex', pool: '@pool', first: '@first_hex', last: '@last_hex', also: ' AND reusable_at <= @now' })}
  ORDER BY start_hex`;

type ExpiredRow = { prefix: string; start_hex: string };
const byAddress = (a: ExpiredRow, b: ExpiredRow) => (a.start_hex < b.start_hex ? -1 : a.start_hex > b.start_hex ? 1 : 0);

export function createQuarantine(db: Db, now: () => number): Quarantine {
  const insert = db.prepare(
    `INSERT INTO ipam_quarantine (pool, start_hex, end_hex, prefix, lifecycle_id, subscriber_id, released_at, freed_at, reusable_at)
     VALUES (@pool, @start_hex, @end_hex, @prefix, @lifecycle_id, @subscriber_id, @released_at, @freed_at, @reusable_at)`,
  );
  const freeRow = db.prepare(
    `UPDATE ipam_quarantine SET freed_at = @freed_at, reusable_at = @reusable_at
     WHERE pool = @pool AND start_hex = @start_hex AND lifecycle_id = @lifecycle_id AND freed_at IS NULL`,
  );
  const heldFor = db.prepare<{ pool: string; start_hex: string; lifecycle_id: string }, { n: number }>(
    'SELECT count(*) AS n FROM ipam_quarantine WHERE pool = @pool AND start_hex = @start_hex AND lifecycle_id = @lifecycle_id AND freed_at IS NULL',
  );
  const deleteRow = db.prepare('DELETE FROM ipam_quarantine WHERE pool = @pool AND start_hex = @start_hex');
  const ofSubscriber = db.prepare<{ pool: string; subscriber_id: string }, { prefix: string }>(
    `SELECT prefix FROM ipam_quarantine INDEXED BY ipam_quarantine_subscriber
     WHERE pool = @pool AND subscriber_id = @subscriber_id AND freed_at IS NOT NULL ORDER BY released_at DESC`,
  );
  // LIMIT -1 is no limit; an allocation takes a batch (ALLOCATION_GIVE_BACK), the sweep larger ones.
  const expiredOfPool = db.prepare<{ pool: string; now: string; limit: number }, ExpiredRow>(
    'SELECT prefix, start_hex FROM ipam_quarantine INDEXED BY ipam_quarantine_expiry WHERE pool = @pool AND reusable_at <= @now ORDER BY start_hex LIMIT @limit',
  );
  // Many expired (a sweep's drain): the lowest addresses by the primary key, the expiry filtered; the
  // sort above ordered every expired row of the pool for each batch (31 ms a batch at 16,000 expired,
  // a drain quadratic). The walk stops at @budget rows: unbounded, it read every block still held at
  // lower addresses first (revocations waiting on an offline CPE, hold-downs; review18: 200,000 under
  // 3,000 expired, 24-30 ms a batch on the 1M field, 70-262 ms in the audit). NOT INDEXED keeps the
  // primary key (the table's own order, WITHOUT ROWID); the bounded subquery is a co-routine, no sort.
  const lowestExpired = db.prepare<{ pool: string; now: string; budget: number; limit: number }, ExpiredRow>(
    `SELECT prefix, start_hex FROM (SELECT prefix, start_hex, reusable_at FROM ipam_quarantine NOT INDEXED WHERE pool = @pool ORDER BY start_hex LIMIT @budget)
     WHERE reusable_at <= @now ORDER BY start_hex LIMIT @limit`,
  );
  // Many expired, and the walk's bound met before the batch (SORT_AT_MOST held below it): the longest
  // expired, by the expiry index in its order, no sort (0.6 ms for 500 where the walk read 200,000).
  // First fit then sees these, not the lowest expired, until the sweep this allocation starts ends.
  const longestExpired = db.prepare<{ pool: string; now: string; limit: number }, ExpiredRow>(
    'SELECT prefix, start_hex FROM ipam_quarantine INDEXED BY ipam_quarantine_expiry WHERE pool = @pool AND reusable_at <= @now ORDER BY reusable_at LIMIT @limit',
  );
  const expiredAtLeast = db.prepare<{ pool: string; now: string; probe: number }, { n: number }>(
    'SELECT count(*) AS n FROM (SELECT 1 FROM ipam_quarantine INDEXED BY ipam_quarantine_expiry WHERE pool = @pool AND reusable_at <= @now LIMIT @probe)',
  );
  const expiredInRange = db.prepare<{ pool: string; now: string; first_hex: string; last_hex: string }, { prefix: string; start_hex: string }>(
    EXPIRED_IN_RANGE,
  );
  const iso = (ms: number) => new Date(ms).toISOString();
  const at = (pool: string, block: Ipv6Prefix) => ({ pool, start_hex: toHex(block.network) });
  const row = (pool: string, block: Ipv6Prefix, lifecycleId: string, subscriberId: string | null, releasedAt: string, freed: { freed_at: string | null; reusable_at: string }) => ({
    ...at(pool, block),
    end_hex: toHex(lastAddress(block)),
    prefix: formatPrefix(block),
    lifecycle_id: lifecycleId,
    subscriber_id: subscriberId,
    released_at: releasedAt,
    ...freed,
  });

  return {
    hold(pool, block, lifecycleId, subscriberId) {
      insert.run(row(pool, block, lifecycleId, subscriberId, iso(now()), { freed_at: null, reusable_at: NOT_FREED }));
    },
    free(pool, block, lifecycleId, subscriberId, holdMs) {
      const t = now();
      const freed = { freed_at: iso(t), reusable_at: iso(t + holdMs) };
      const { changes } = freeRow.run({ ...at(pool, block), lifecycle_id: lifecycleId, ...freed });
      if (changes > 0) return;
      insert.run(row(pool, block, lifecycleId, subscriberId, iso(t), freed));
    },
    isHeldFor: (pool, block, lifecycleId) => (heldFor.get({ ...at(pool, block), lifecycle_id: lifecycleId })?.n ?? 0) > 0,
    drop: (pool, block) => void deleteRow.run(at(pool, block)),
    stickyFor(pool, subscriberId, length) {
      for (const r of ofSubscriber.all({ pool, subscriber_id: subscriberId })) {
        const block = parsePrefix(r.prefix);
        if (block.length === length) return block;
      }
      return null;
    },
    takeExpired(pool, limit = -1) {
      if (limit === 0) return [];
      const t = iso(now());
      const few = limit < 0 || expiredAtLeast.get({ pool, now: t, probe: SORT_AT_MOST })!.n < SORT_AT_MOST;
      let rows = few ? expiredOfPool.all({ pool, now: t, limit }) : lowestExpired.all({ pool, now: t, budget: SORT_AT_MOST, limit });
      // Short of the batch with SORT_AT_MOST or more expired, the walk met its bound, not the pool's end.
      if (!few && rows.length < limit) rows = longestExpired.all({ pool, now: t, limit }).sort(byAddress);
      for (const r of rows) deleteRow.run({ pool, start_hex: r.start_hex });
      return rows.map((r) => parsePrefix(r.prefix));
    },
    takeExpiredIn(pool, start, end) {
      const rows = expiredInRange.all({ pool, now: iso(now()), first_hex: toHex(start), last_hex: toHex(end) });
      for (const r of rows) deleteRow.run({ pool, start_hex: r.start_hex });
      return rows.map((r) => parsePrefix(r.prefix));
    },
  };
}
