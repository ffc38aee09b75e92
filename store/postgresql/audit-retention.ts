// Pruning the audit trail on PostgreSQL: store/audit-retention.ts's walk in PostgreSQL's dialect.
// The cut is stored first (audit_guard, migration 001, refuses any delete it does not allow), then
// the trail is walked in seq order by its primary key, one batch per transaction, each entry's
// lifecycle looked up by its primary key: no statement visits the whole table.
//
// seq is time order only roughly across instances (each appends with its own clock, and sequence
// values are taken before commit): the walk ends at the first entry at or past the cut, so an entry
// a few milliseconds out of order goes on the next run, a day later, never before its time.
import type pg from 'pg';
import type { AuditPruneOptions } from '../audit-retention.ts';
import type { AuditRetentionPort } from '../port.ts';
import { inTransaction } from './pool.ts';

const SET_CUT = 'INSERT INTO audit_prune_cut (id, before) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET before = excluded.before';
/** Each entry's lifecycle by a subquery, not a join: one primary-key lookup per entry of the batch, whatever the planner thinks of the tables' sizes. */
export const AUDIT_PAGE = `
  SELECT a.seq, a.at, coalesce((SELECT l.state FROM lifecycles AS l WHERE l.id = a.lifecycle_id), 'revoked') AS state
  FROM audit AS a WHERE a.seq > $1 ORDER BY a.seq LIMIT $2`;
export const AUDIT_REMOVE = 'DELETE FROM audit WHERE seq = ANY($1::int8[])';

export function createPgAuditRetention(pool: pg.Pool): AuditRetentionPort {
  /** One batch in one transaction: how many went, where the walk goes on, and whether it reached the cut. */
  const batch = (before: string, after: number, limit: number) =>
    inTransaction(pool, async (c) => {
      const { rows } = await c.query<{ seq: number; at: string; state: string }>(AUDIT_PAGE, [after, limit]);
      const gone: number[] = [];
      let done = rows.length < limit;
      let next = rows.at(-1)?.seq ?? after;
      for (const r of rows) {
        if (r.at >= before) {
          done = true;
          next = r.seq;
          break;
        }
        if (r.state === 'revoked') gone.push(r.seq);
      }
      const deleted = gone.length ? ((await c.query(AUDIT_REMOVE, [gone])).rowCount ?? 0) : 0;
      return { deleted, after: next, done };
    });

  return {
    async prune(opts: AuditPruneOptions): Promise<number> {
      const limit = opts.batch ?? 1000;
      await pool.query(SET_CUT, [opts.before]);
      let total = 0;
      let after = 0;
      for (;;) {
        const r = await batch(opts.before, after, limit);
        total += r.deleted;
        if (r.done) return total;
        after = r.after;
      }
    },
  };
}

