// The last reconciliation run on PostgreSQL (migration 005): store/reconciliation.ts's statements
// in PostgreSQL's dialect. Only the leader reconciles, but a leader that lost its lock may still be
// finishing a run: replaces take a table lock, so two never interleave and one run is ever stored.
import type pg from 'pg';
import type { ReconciliationPort } from '../port.ts';
import type { DiscrepancyRow, ReconciliationRun } from '../reconciliation.ts';
import { inTransaction } from './pool.ts';

const ITEM_COLUMNS = ['kind', 'lifecycle_id', 'subscriber_id', 'username', 'prefix', 'cpe_id', 'action', 'detail'] as const;
/** Rows of one INSERT (one array per column): a fleet's differences go in a few statements, not one per row. */
const CHUNK = 5000;

const INSERT_ITEMS = `
  INSERT INTO reconciliation_discrepancies (run_id, seq, ${ITEM_COLUMNS.join(', ')})
  SELECT $1, $2 + ord, ${ITEM_COLUMNS.join(', ')}
  FROM unnest(${ITEM_COLUMNS.map((_, i) => `$${i + 3}::text[]`).join(', ')}) WITH ORDINALITY AS d (${ITEM_COLUMNS.join(', ')}, ord)`;
const LAST_RUN = 'SELECT id, started_at, finished_at, dry_run, counts FROM reconciliation_runs ORDER BY id DESC LIMIT 1';
const COLUMNS = `seq, ${ITEM_COLUMNS.join(', ')}`;
/** One statement per filter, so each has the plan of its index (a `$n IS NULL OR …` would share one). */
export const PAGE = `SELECT ${COLUMNS} FROM reconciliation_discrepancies WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`;
export const PAGE_OF_KIND = `SELECT ${COLUMNS} FROM reconciliation_discrepancies WHERE run_id = $1 AND kind = $4 AND seq > $2 ORDER BY seq LIMIT $3`;
const INSERT_AUDIT = `
  INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail)
  VALUES ($1, $2, $3, 'RECONCILED', $4, $4, $5)`;

type StoredRun = { id: number; started_at: string; finished_at: string; dry_run: boolean; counts: string };
type StoredRow = Omit<DiscrepancyRow, 'detail'> & { seq: number; detail: string };

export function createPgReconciliationStore(pool: pg.Pool): ReconciliationPort {
  const last = async () => (await pool.query<StoredRun>(LAST_RUN)).rows[0];
  return {
    replace: (run: ReconciliationRun, items: readonly DiscrepancyRow[]) =>
      inTransaction(pool, async (c) => {
        // Self-conflicting, yet readers (ACCESS SHARE) go on reading the run being replaced.
        await c.query('LOCK TABLE reconciliation_runs IN SHARE ROW EXCLUSIVE MODE');
        await c.query('DELETE FROM reconciliation_runs');
        const { rows } = await c.query<{ id: number }>(
          'INSERT INTO reconciliation_runs (started_at, finished_at, dry_run, counts) VALUES ($1, $2, $3, $4) RETURNING id',
          [run.started_at, run.finished_at, run.dry_run, JSON.stringify(run.counts)],
        );
        const runId = rows[0]!.id;
        for (let at = 0; at < items.length; at += CHUNK) {
          const chunk = items.slice(at, at + CHUNK).map((it) => ({ ...it, detail: JSON.stringify(it.detail) }));
          await c.query(INSERT_ITEMS, [runId, at, ...ITEM_COLUMNS.map((col) => chunk.map((it) => it[col]))]);
        }
      }),
    async lastRun() {
      const r = await last();
      return r ? { started_at: r.started_at, finished_at: r.finished_at, dry_run: r.dry_run, counts: JSON.parse(r.counts) as Record<string, number> } : null;
    },
    async page({ kind, limit, after }) {
      const run = await last();
      if (!run) return { items: [], next: null };
      const values: unknown[] = [run.id, after ?? 0, limit + 1];
      const { rows } = await pool.query<StoredRow>(kind === undefined ? PAGE : PAGE_OF_KIND, kind === undefined ? values : [...values, kind]);
      const more = rows.length > limit;
      const items = rows.slice(0, limit).map((r) => ({ ...r, detail: JSON.parse(r.detail) as Record<string, unknown> }));
      return { items, next: more ? items[items.length - 1]!.seq : null };
    },
    audit: async (e) =>
      void (await pool.query(INSERT_AUDIT, [e.lifecycle_id, e.subscriber_id, e.at, e.state, JSON.stringify({ state: e.state, ...e.detail })])),
  };
}
