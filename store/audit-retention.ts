import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Db } from './db.ts';

export interface AuditPruneOptions {
  /** Rows strictly older than this (toISOString() text) go, when their lifecycle is revoked. */
  before: string;
  /** Rows read per transaction; the event loop is given back between batches. */
  batch?: number;
}

/**
 * Pruning of the audit trail (migration 010): the trail of revoked lifecycles older than a cut,
 * deleted in batches. The database itself refuses every other delete and every update, so what is
 * kept stays append-only whoever writes. The walk is in seq order, which is time order (entries are
 * appended as events happen), and ends at the first entry at or past the cut.
 */
export function createAuditRetention(db: Db) {
  const setCut = db.prepare<{ before: string }>(
    'INSERT INTO audit_prune_cut (id, before) VALUES (1, @before) ON CONFLICT (id) DO UPDATE SET before = excluded.before',
  );
  const page = db.prepare<{ after: number; limit: number }, { seq: number; at: string; state: string }>(
    `SELECT a.seq AS seq, a.at AS at, coalesce(l.state, 'revoked') AS state FROM audit AS a
     LEFT JOIN lifecycles AS l ON l.id = a.lifecycle_id WHERE a.seq > @after ORDER BY a.seq LIMIT @limit`,
  );
  // The stored row itself (the `audit` view's delete counts no change); migration 013's trigger on it decides.
  const remove = db.prepare<[number]>('DELETE FROM audit_log WHERE seq = ?');
  /** One batch in one transaction: how many went, where the walk goes on, and whether it reached the cut. */
  const batchTx = db.transaction((before: string, after: number, limit: number) => {
    const rows = page.all({ after, limit });
    let deleted = 0;
    for (const r of rows) {
      if (r.at >= before) return { deleted, after: r.seq, done: true };
      if (r.state === 'revoked') deleted += remove.run(r.seq).changes;
    }
    return { deleted, after: rows.at(-1)?.seq ?? after, done: rows.length < limit };
  });

  return {
    /** Deletes the trail of revoked lifecycles older than `before`; returns how many entries went. */
    async prune(opts: AuditPruneOptions): Promise<number> {
      const limit = opts.batch ?? 1000;
      setCut.run({ before: opts.before });
      let total = 0;
      let after = 0;
      for (;;) {
        const r = batchTx(opts.before, after, limit);
        total += r.deleted;
        if (r.done) return total;
        after = r.after;
        await nextTurn();
      }
    },
  };
}

/** The cleanup job's pruning (`jobs.cleanup.audit_retention_days`): the trail of revoked lifecycles older than `days`. */
export function pruneAuditOlderThan(retention: { prune(o: AuditPruneOptions): Promise<number> }, days: number, now: () => number = Date.now): () => Promise<number> {
  return () => retention.prune({ before: new Date(now() - days * 86_400_000).toISOString() });
}
