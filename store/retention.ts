import type { Db } from './db.ts';

/** A revoked lifecycle past retention: what the `cleanup` job deletes (or, dry, would delete). */
export interface ExpiredLifecycle {
  id: string;
  subscriber_id: string;
  revoked_at: string;
}

/**
 * Retention of revoked lifecycles (migration 007): their rows leave the live table, their audit
 * trail stays. A lifecycle with outside work still pending (a CPE that never confirmed the removal)
 * or a step in flight is kept, whatever its age: deleting it would drop that work.
 */
export interface RetentionStore {
  /** Up to `limit` lifecycles revoked before `cutoff`, oldest revocation first, after the cursor. */
  expired(cutoff: string, limit: number, after?: Pick<ExpiredLifecycle, 'revoked_at' | 'id'>): ExpiredLifecycle[];
  /** Deletes those of `ids` that still qualify, in one transaction; returns how many went. */
  remove(ids: readonly string[], cutoff: string): number;
}

const QUALIFIES = "state = 'revoked' AND revoked_at < @cutoff AND next_pending_at IS NULL AND busy = 0";

/**
 * (revoked_at, id) walks the partial index of migration 007 in order: no sort, no scan of live rows.
 * Named, because without statistics the planner prefers lifecycles_state and sorts every revoked row.
 */
export const SELECT_EXPIRED = `
    SELECT id, subscriber_id, revoked_at FROM lifecycles INDEXED BY lifecycles_revoked_at
    WHERE ${QUALIFIES} AND (revoked_at > @at OR (revoked_at = @at AND id > @id))
    ORDER BY revoked_at, id LIMIT @limit`;

export function createRetentionStore(db: Db): RetentionStore {
  const selectExpired = db.prepare<{ cutoff: string; limit: number; at: string; id: string }, ExpiredLifecycle>(SELECT_EXPIRED);
  // The condition again: the row may have changed since it was listed. The delete trigger of
  // migration 006 takes it out of the counts in the same transaction.
  const deleteOne = db.prepare<{ id: string; cutoff: string }>(`DELETE FROM lifecycles WHERE id = @id AND ${QUALIFIES}`);
  const removeTx = db.transaction((ids: readonly string[], cutoff: string) => {
    let n = 0;
    for (const id of ids) n += deleteOne.run({ id, cutoff }).changes;
    return n;
  });
  return {
    expired: (cutoff, limit, after) => selectExpired.all({ cutoff, limit, at: after?.revoked_at ?? '', id: after?.id ?? '' }),
    remove: (ids, cutoff) => removeTx(ids, cutoff),
  };
}
