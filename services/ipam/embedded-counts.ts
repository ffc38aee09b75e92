// The embedded IPAM's figures as migration 015 keeps them (ipam_pools' counts, ipam_split_units),
// in units of each pool's delegated length: what utilization() reads, a few rows per pool however
// many blocks are allocated or held down, and their recount when a pool's parent or length changes.
import type { Db } from '../../store/db.ts';
import { lastAddress, toHex } from '../ipv6.ts';
import type { Pool } from './pool-rules.ts';

/** SQL of the unit a block starting at `start` lies in, for units of `length` (migration 015's triggers spell it the same). */
const unitOf = (start: string, length: string) =>
  `substr(${start}, 1, ${length} / 4) || substr('0123456789abcdef', ((instr('0123456789abcdef', substr(${start}, ${length} / 4 + 1, 1)) - 1) & ((15 << (4 - ${length} % 4)) & 15)) + 1, 1)`;
const QUARANTINED_LENGTH = "CAST(substr(prefix, instr(prefix, '/') + 1) AS INTEGER)";
const INSIDE = 'start_hex >= @first_hex AND start_hex <= @last_hex AND end_hex <= @last_hex';

/** A pool's figures, in units of its delegated length. */
export interface PoolFigures {
  /** Allocated, quarantined and held-down units, and the blocks still on a parent the pool moved from. */
  allocated: number;
  /** Of `allocated`, the quarantined and held-down units. */
  heldDown: number;
  /** Allocated blocks outside the parent: lifecycles on the parent the pool moved from, until POST /update moves them. */
  outside: number;
  /** The parent before the pool's last move. */
  movedFrom: string | null;
}

export interface PoolCounts {
  /** The parent and the length the pool's figures were counted for (null: never counted). */
  countedFor(pool: string): { parent: string; unitLength: number | null } | undefined;
  /**
   * Counts the pool's figures again from its rows, for its configured parent and length, and
   * records both: at start-up, when they changed. Reads the pool's blocks once, in SQLite.
   */
  recount(pool: Pool): void;
  /** The figures at `now`: a block whose hold-down has passed is reusable, though it waits in the quarantine. */
  figures(pool: Pool, now: string): PoolFigures;
}

export function createPoolCounts(db: Db): PoolCounts {
  const countedFor = db.prepare<{ pool: string }, { parent: string; unit_length: number | null }>('SELECT parent, unit_length FROM ipam_pools WHERE pool = @pool');
  const record = db.prepare(
    `INSERT INTO ipam_pools (pool, parent, first_hex, last_hex, unit_length) VALUES (@pool, @parent, @first_hex, @last_hex, @unit_length)
     ON CONFLICT (pool) DO UPDATE SET parent = excluded.parent, first_hex = excluded.first_hex, last_hex = excluded.last_hex,
       unit_length = excluded.unit_length,
       moved_from = CASE WHEN ipam_pools.parent NOT IN ('', excluded.parent) THEN ipam_pools.parent ELSE ipam_pools.moved_from END`,
  );
  // Its delete trigger counts each row out; the counts are set afresh below anyway.
  const forgetSplitUnits = db.prepare('DELETE FROM ipam_split_units WHERE pool = @pool');
  // Ranges of the (pool, start_hex) keys: inside the parent, and before and after it.
  const countWhole = db.prepare(
    `UPDATE ipam_pools SET
       whole_allocated = (SELECT coalesce(sum(1 << (@unit_length - prefix_length)), 0) FROM ipam_blocks
         WHERE pool = @pool AND ${INSIDE} AND prefix_length <= @unit_length),
       whole_quarantined = (SELECT coalesce(sum(1 << (@unit_length - len)), 0) FROM
         (SELECT ${QUARANTINED_LENGTH} AS len FROM ipam_quarantine WHERE pool = @pool AND ${INSIDE}) WHERE len <= @unit_length),
       outside = (SELECT count(*) FROM ipam_blocks WHERE pool = @pool AND start_hex < @first_hex)
         + (SELECT count(*) FROM ipam_blocks WHERE pool = @pool AND start_hex > @last_hex)
         + (SELECT count(*) FROM ipam_blocks WHERE pool = @pool AND start_hex >= @first_hex AND start_hex <= @last_hex AND end_hex > @last_hex),
       split_units = 0, split_quarantined = 0
     WHERE pool = @pool`,
  );
  // Its insert trigger counts each unit in.
  const countSplit = db.prepare(
    `INSERT INTO ipam_split_units (pool, unit, allocated, quarantined)
     SELECT @pool, ${unitOf('start_hex', '@unit_length')}, sum(allocated), sum(quarantined) FROM (
       SELECT start_hex, 1 AS allocated, 0 AS quarantined FROM ipam_blocks WHERE pool = @pool AND ${INSIDE} AND prefix_length > @unit_length
       UNION ALL
       SELECT start_hex, 0, 1 FROM ipam_quarantine WHERE pool = @pool AND ${INSIDE} AND ${QUARANTINED_LENGTH} > @unit_length)
     GROUP BY 2`,
  );
  const kept = db.prepare<{ pool: string }, { whole_allocated: number; whole_quarantined: number; split_units: number; split_quarantined: number; outside: number; moved_from: string | null }>(
    'SELECT whole_allocated, whole_quarantined, split_units, split_quarantined, outside, moved_from FROM ipam_pools WHERE pool = @pool',
  );
  // The kept counts include quarantined blocks whose hold-down has passed, which wait for the
  // pool's next allocation or sweep to move them to ipam_free: those are taken back out. Only they are read,
  // by the expiry index, and summed here (no row of them reaches JavaScript); an allocation in the
  // pool moves a batch of them and starts a sweep of the rest, so they are the few whose hold-down
  // passed since (or the rest of a batch the sweep is moving). CROSS JOIN keeps
  // SQLite from walking the pool's split units to meet them: each is sought by its key.
  const expired = db.prepare<{ pool: string; now: string; first_hex: string; last_hex: string; unit_length: number }, { whole: number; freed: number; unheld: number }>(
    `WITH expired AS (
       SELECT start_hex, ${QUARANTINED_LENGTH} AS len FROM ipam_quarantine INDEXED BY ipam_quarantine_expiry
       WHERE pool = @pool AND reusable_at <= @now AND ${INSIDE}),
     split AS (SELECT ${unitOf('start_hex', '@unit_length')} AS unit, count(*) AS n FROM expired WHERE len > @unit_length GROUP BY 1)
     SELECT
       (SELECT coalesce(sum(1 << (@unit_length - len)), 0) FROM expired WHERE len <= @unit_length) AS whole,
       (SELECT count(*) FROM split CROSS JOIN ipam_split_units AS s ON s.pool = @pool AND s.unit = split.unit WHERE s.allocated + s.quarantined = split.n) AS freed,
       (SELECT count(*) FROM split CROSS JOIN ipam_split_units AS s ON s.pool = @pool AND s.unit = split.unit WHERE s.quarantined = split.n) AS unheld`,
  );
  const params = ({ info, parent }: Pool) => ({ pool: info.name, first_hex: toHex(parent.network), last_hex: toHex(lastAddress(parent)), unit_length: info.prefixLength });

  return {
    countedFor(pool) {
      const row = countedFor.get({ pool });
      return row && { parent: row.parent, unitLength: row.unit_length };
    },
    recount(pool) {
      const p = params(pool);
      record.run({ ...p, parent: pool.info.prefix });
      forgetSplitUnits.run({ pool: p.pool });
      countWhole.run(p);
      countSplit.run(p);
    },
    figures(pool, now) {
      const p = params(pool);
      const k = kept.get({ pool: p.pool });
      if (!k) throw new Error(`ipam: pool "${p.pool}" was never counted`);
      const e = expired.get({ ...p, now })!;
      const heldDown = k.whole_quarantined - e.whole + k.split_quarantined - e.unheld;
      return {
        allocated: k.whole_allocated + k.whole_quarantined - e.whole + k.split_units - e.freed + k.outside,
        heldDown,
        outside: k.outside,
        movedFrom: k.moved_from,
      };
    },
  };
}
