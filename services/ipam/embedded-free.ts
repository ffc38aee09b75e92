import type { Db } from '../../store/db.ts';
import { alignUp, blockSize, contains, fromHex, lastAddress, toHex } from '../ipv6.ts';
import type { Quarantine } from './embedded-quarantine.ts';
import { meetingRange } from './meeting-range.ts';
import type { Pool } from './pool-rules.ts';

/** A run of addresses, allocated (a block) or free. */
export interface RunRow {
  start_hex: string;
  end_hex: string;
}

/**
 * The embedded IPAM's free space in `ipam_free`: each pool's parent minus its blocks (allocated,
 * quarantined or held down), as maximal runs in address order. Call inside the IPAM's transactions.
 */
export interface FreeSpace {
  /** Recomputes a pool's runs from its blocks: one ordered walk, O(n), when a parent is first seen. */
  rebuild(pool: Pool): void;
  /** O(log n): the block becomes free space, merged with the runs that touch it on either side. */
  giveBack(pool: Pool, start: bigint, end: bigint): void;
  /** The pool's blocks whose hold-down has passed leave the quarantine for free space (all, or `limit`); answers how many. */
  giveBackExpired(pool: Pool, quarantine: Quarantine, limit?: number): number;
  /**
   * First fit: takes the first free aligned block of the length and answers its start, or null.
   * O(log n + f), f being the runs passed over as too small or misaligned; 0 in a pool that
   * delegates one length (every run is then whole aligned blocks), however many are allocated.
   */
  takeFirstFit(pool: string, prefixLength: number): bigint | null;
  /** O(log n): takes exactly [start, end] when one run holds it all; false when any of it is not free. */
  takeExactly(pool: string, start: bigint, end: bigint): boolean;
  /** O(log n): whether one free run holds all of [start, end], taking nothing (what takeExactly would do). */
  holdsExactly(pool: string, start: bigint, end: bigint): boolean;
  /** The first block (allocated or quarantined) meeting [start, end], for a refusal to name. */
  firstTaken(pool: string, start: bigint, end: bigint): RunRow | undefined;
  /** Whether anything but a block whose hold-down has passed (at `nowIso`) meets [start, end]. */
  heldBesidesExpired(pool: string, start: bigint, end: bigint, nowIso: string): boolean;
}

const SQLITE = { pool: '@pool', first: '@first_hex', last: '@last_hex' };
/** The blocks and quarantined blocks of @pool meeting [@first_hex, @last_hex], in address order (the rebuild walks a whole parent so). */
export const TAKEN_MEETING_RANGE = `${meetingRange({ table: 'ipam_blocks', columns: 'start_hex, end_hex', ...SQLITE })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: 'start_hex, end_hex', ...SQLITE })}
  ORDER BY start_hex`;
// An adoption's refusal names one block: the walk above stopped at the first row, not all of a large block's.
export const FIRST_TAKEN_MEETING_RANGE = `${TAKEN_MEETING_RANGE} LIMIT 1`;
/** Whether anything of @pool meets [@first_hex, @last_hex] but a quarantined block whose hold-down passed at @now. */
export const HELD_MEETING_RANGE = `${meetingRange({ table: 'ipam_blocks', columns: '1 AS n', ...SQLITE })}
  UNION ALL ${meetingRange({ table: 'ipam_quarantine', columns: '1 AS n', ...SQLITE, also: ' AND reusable_at > @now' })}
  LIMIT 1`;

export function createFreeSpace(db: Db): FreeSpace {
  const takenMeetingRange = db.prepare<{ pool: string; first_hex: string; last_hex: string }, RunRow>(TAKEN_MEETING_RANGE);
  const firstTakenMeetingRange = db.prepare<{ pool: string; first_hex: string; last_hex: string }, RunRow>(FIRST_TAKEN_MEETING_RANGE);
  const heldMeetingRange = db.prepare<{ pool: string; first_hex: string; last_hex: string; now: string }, { n: number }>(HELD_MEETING_RANGE);
  const freeRunsInOrder = db.prepare<{ pool: string }, RunRow>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = @pool ORDER BY start_hex');
  // The first run: in a pool that delegates one length it always holds the block, so one row is read.
  const firstFreeRun = db.prepare<{ pool: string }, RunRow>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = @pool ORDER BY start_hex LIMIT 1');
  // A block carved from the start of its run: the run shrinks in place (one statement, not a delete and an insert).
  const shrinkFreeRun = db.prepare('UPDATE ipam_free SET start_hex = @new_start_hex WHERE pool = @pool AND start_hex = @start_hex');
  const freeRunBefore = db.prepare<{ pool: string; start_hex: string }, RunRow>(
    `SELECT start_hex, end_hex FROM ipam_free
     WHERE pool = @pool AND start_hex < @start_hex ORDER BY start_hex DESC LIMIT 1`,
  );
  const freeRunStartingAt = db.prepare<{ pool: string; start_hex: string }, RunRow>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = @pool AND start_hex = @start_hex');
  const insertFreeRun = db.prepare('INSERT INTO ipam_free (pool, start_hex, end_hex) VALUES (@pool, @start_hex, @end_hex)');
  const deleteFreeRun = db.prepare('DELETE FROM ipam_free WHERE pool = @pool AND start_hex = @start_hex');
  const deleteFreeRunsOfPool = db.prepare('DELETE FROM ipam_free WHERE pool = @pool');

  function addFreeRun(pool: string, start: bigint, end: bigint): void {
    if (start <= end) insertFreeRun.run({ pool, start_hex: toHex(start), end_hex: toHex(end) });
  }

  /** The run loses [at, at + size): shrunk in place when the block is its start, else split around it. */
  function carve(pool: string, run: RunRow, at: bigint, after: bigint, end: bigint): void {
    if (toHex(at) === run.start_hex && after <= end) {
      shrinkFreeRun.run({ pool, start_hex: run.start_hex, new_start_hex: toHex(after) });
      return;
    }
    deleteFreeRun.run({ pool, start_hex: run.start_hex });
    addFreeRun(pool, fromHex(run.start_hex), at - 1n);
    addFreeRun(pool, after, end);
  }

  return {
    rebuild({ info, parent }) {
      const last = lastAddress(parent);
      deleteFreeRunsOfPool.run({ pool: info.name });
      let next = parent.network;
      const range = { pool: info.name, first_hex: toHex(parent.network), last_hex: toHex(last) };
      const runs: Array<[bigint, bigint]> = [];
      for (const block of takenMeetingRange.iterate(range)) {
        const start = fromHex(block.start_hex);
        if (start > next) runs.push([next, start - 1n]);
        const after = fromHex(block.end_hex) + 1n;
        if (after > next) next = after;
      }
      if (next <= last) runs.push([next, last]);
      for (const [start, end] of runs) addFreeRun(info.name, start, end);
    },

    giveBack(pool, start, end) {
      const name = pool.info.name;
      const before = freeRunBefore.get({ pool: name, start_hex: toHex(start) });
      if (before && fromHex(before.end_hex) + 1n === start) {
        deleteFreeRun.run({ pool: name, start_hex: before.start_hex });
        start = fromHex(before.start_hex);
      }
      const after = end < lastAddress(pool.parent) ? freeRunStartingAt.get({ pool: name, start_hex: toHex(end + 1n) }) : undefined;
      if (after) {
        deleteFreeRun.run({ pool: name, start_hex: after.start_hex });
        end = fromHex(after.end_hex);
      }
      addFreeRun(name, start, end);
    },

    giveBackExpired(pool, quarantine, limit) {
      const blocks = quarantine.takeExpired(pool.info.name, limit);
      for (const block of blocks) {
        // Held down while the parent moved: outside it, the block is not this pool's free space.
        if (contains(pool.parent, block)) this.giveBack(pool, block.network, lastAddress(block));
      }
      return blocks.length;
    },

    takeFirstFit(pool, prefixLength) {
      const size = blockSize(prefixLength);
      const fits = (run: RunRow) => {
        const end = fromHex(run.end_hex);
        const at = alignUp(fromHex(run.start_hex), prefixLength);
        return at + size - 1n <= end ? { run, end, at } : null;
      };
      const first = firstFreeRun.get({ pool });
      let hit = first ? fits(first) : null;
      if (first && !hit) {
        // The loop must end (break) before any write: better-sqlite3 refuses writes while a statement iterates.
        for (const run of freeRunsInOrder.iterate({ pool })) if ((hit = fits(run))) break;
      }
      if (!hit) return null;
      carve(pool, hit.run, hit.at, hit.at + size, hit.end);
      return hit.at;
    },

    holdsExactly(pool, start, end) {
      const run = freeRunBefore.get({ pool, start_hex: toHex(start + 1n) });
      return run !== undefined && fromHex(run.end_hex) >= end;
    },

    takeExactly(pool, start, end) {
      const run = freeRunBefore.get({ pool, start_hex: toHex(start + 1n) });
      if (!run || fromHex(run.end_hex) < end) return false;
      deleteFreeRun.run({ pool, start_hex: run.start_hex });
      addFreeRun(pool, fromHex(run.start_hex), start - 1n);
      addFreeRun(pool, end + 1n, fromHex(run.end_hex));
      return true;
    },

    heldBesidesExpired: (pool, start, end, now) => heldMeetingRange.get({ pool, first_hex: toHex(start), last_hex: toHex(end), now }) !== undefined,

    firstTaken: (pool, start, end) => firstTakenMeetingRange.get({ pool, first_hex: toHex(start), last_hex: toHex(end) }),
  };
}
