// The last reconciliation run and its differences (migration 012), and the audit entry a repair
// leaves on the lifecycle it concerns.
import type { Db } from './db.ts';

export type DiscrepancyAction = 'reported' | 'repaired' | 'would_repair' | 'repair_failed';

/** One difference between the sources of truth, as stored and as the API lists it. */
export interface DiscrepancyRow {
  kind: string;
  lifecycle_id: string | null;
  subscriber_id: string | null;
  username: string | null;
  prefix: string | null;
  cpe_id: string | null;
  action: DiscrepancyAction;
  detail: Record<string, unknown>;
}

export interface ReconciliationRun {
  started_at: string;
  finished_at: string;
  dry_run: boolean;
  counts: Record<string, number>;
}

export interface ReconciliationStore {
  /** Replaces the stored run (and its differences) by this one, in one transaction. */
  replace(run: ReconciliationRun, items: readonly DiscrepancyRow[]): void;
  /** The stored run, or null before the first. */
  lastRun(): ReconciliationRun | null;
  /** A page of the last run's differences in the order found, from just past `after` (a seq). */
  page(q: { kind?: string | undefined; limit: number; after?: number | undefined }): { items: (DiscrepancyRow & { seq: number })[]; next: number | null };
  /** Appends a `RECONCILED` audit entry to the lifecycle (its state unchanged). */
  audit(entry: { lifecycle_id: string; subscriber_id: string; state: string; at: string; detail: Record<string, unknown> }): void;
}

interface StoredRow extends Omit<DiscrepancyRow, 'detail'> {
  seq: number;
  detail: string;
}

const PAGE_COLUMNS = 'seq, kind, lifecycle_id, subscriber_id, username, prefix, cpe_id, action, detail';
/** A page of the last run's discrepancies, on its primary key (run_id, seq). */
export const PAGE = `SELECT ${PAGE_COLUMNS} FROM reconciliation_discrepancies WHERE run_id = @run_id AND seq > @after ORDER BY seq LIMIT @limit`;
/** A page of one kind, on reconciliation_kind (run_id, kind, seq): a seek, however rare the kind. */
export const PAGE_OF_KIND = `SELECT ${PAGE_COLUMNS} FROM reconciliation_discrepancies WHERE run_id = @run_id AND kind = @kind AND seq > @after ORDER BY seq LIMIT @limit`;

export function createReconciliationStore(db: Db): ReconciliationStore {
  const insertRun = db.prepare<[string, string, number, string]>('INSERT INTO reconciliation_runs (started_at, finished_at, dry_run, counts) VALUES (?, ?, ?, ?)');
  const insertItem = db.prepare(`
    INSERT INTO reconciliation_discrepancies (run_id, seq, kind, lifecycle_id, subscriber_id, username, prefix, cpe_id, action, detail)
    VALUES (@run_id, @seq, @kind, @lifecycle_id, @subscriber_id, @username, @prefix, @cpe_id, @action, @detail)`);
  const selectRun = db.prepare<[], { id: number; started_at: string; finished_at: string; dry_run: number; counts: string }>(
    'SELECT * FROM reconciliation_runs ORDER BY id DESC LIMIT 1',
  );
  // Two statements, as on PostgreSQL: `(@kind IS NULL OR kind = @kind)` kept SQLite on the primary key,
  // filtering every row of the run for a rare kind (94 ms a page at 1,000,000 discrepancies).
  const selectPage = {
    all: db.prepare<{ run_id: number; after: number; limit: number }, StoredRow>(PAGE),
    ofKind: db.prepare<{ run_id: number; kind: string; after: number; limit: number }, StoredRow>(PAGE_OF_KIND),
  };
  const insertAudit = db.prepare(`
    INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail)
    VALUES (@lifecycle_id, @subscriber_id, @at, 'RECONCILED', @state, @state, @detail)`);
  const replaceTx = db.transaction((run: ReconciliationRun, items: readonly DiscrepancyRow[]) => {
    db.prepare('DELETE FROM reconciliation_discrepancies').run();
    db.prepare('DELETE FROM reconciliation_runs').run();
    const runId = Number(insertRun.run(run.started_at, run.finished_at, run.dry_run ? 1 : 0, JSON.stringify(run.counts)).lastInsertRowid);
    items.forEach((it, i) => insertItem.run({ ...it, run_id: runId, seq: i + 1, detail: JSON.stringify(it.detail) }));
  });

  return {
    replace: (run, items) => replaceTx(run, items),
    lastRun() {
      const r = selectRun.get();
      return r ? { started_at: r.started_at, finished_at: r.finished_at, dry_run: r.dry_run === 1, counts: JSON.parse(r.counts) as Record<string, number> } : null;
    },
    page({ kind, limit, after }) {
      const run = selectRun.get();
      if (!run) return { items: [], next: null };
      const at = { run_id: run.id, after: after ?? 0, limit: limit + 1 };
      const rows = kind === undefined ? selectPage.all.all(at) : selectPage.ofKind.all({ ...at, kind });
      const more = rows.length > limit;
      const items = rows.slice(0, limit).map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
      return { items, next: more ? items[items.length - 1]!.seq : null };
    },
    audit: (e) => void insertAudit.run({ lifecycle_id: e.lifecycle_id, subscriber_id: e.subscriber_id, at: e.at, state: e.state, detail: JSON.stringify({ state: e.state, ...e.detail }) }),
  };
}
