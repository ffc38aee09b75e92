// Review 18 (issue 10): GET /reconciliation?kind= read its page with `(@kind IS NULL OR kind = @kind)`,
// which kept SQLite on the primary key, filtering every discrepancy of the run for a rare kind (94 ms
// a page at 1,000,000). Two statements now, as on PostgreSQL: the kind's on reconciliation_kind.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createReconciliationStore, PAGE, PAGE_OF_KIND, type DiscrepancyRow } from '../../store/reconciliation.ts';

const test = suite('review18: a page of one kind of discrepancy is a seek on its index');

test('pages of a kind, and of all, are the run\'s discrepancies in order; the kind\'s statement seeks reconciliation_kind', () => {
  const db = openDatabase(':memory:');
  const store = createReconciliationStore(db);
  const kinds = ['ipam_missing', 'radius_orphan', 'cpe_drift'];
  const items: DiscrepancyRow[] = Array.from({ length: 2500 }, (_, i) => ({
    kind: i % 97 === 5 ? 'rare' : kinds[i % 3]!,
    lifecycle_id: `lc-${i}`,
    subscriber_id: `sub-${i}`,
    username: null,
    prefix: null,
    cpe_id: null,
    action: 'reported',
    detail: { i },
  }));
  store.replace({ started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:01:00.000Z', dry_run: true, counts: {} }, items);
  const walk = (kind?: string) => {
    const seen: number[] = [];
    for (let after: number | undefined; ; ) {
      const { items: page, next } = store.page({ kind, limit: 100, after });
      seen.push(...page.map((p) => (p.detail as { i: number }).i));
      if (next === null) return seen;
      after = next;
    }
  };
  assert.equal(walk('rare'), items.flatMap((it, i) => (it.kind === 'rare' ? [i] : [])));
  assert.equal(walk(), items.map((_, i) => i));
  assert.equal(walk('none'), []);
  const planOf = (sql: string, args: object) => db.prepare<object[], { detail: string }>(`EXPLAIN QUERY PLAN ${sql}`).all(args).map((r) => r.detail).join(' | ');
  assert.match(planOf(PAGE_OF_KIND, { run_id: 1, kind: 'rare', after: 0, limit: 10 }), /USING (COVERING )?INDEX reconciliation_kind \(run_id=\? AND kind=\? AND seq>\?\)/);
  assert.match(planOf(PAGE, { run_id: 1, after: 0, limit: 10 }), /\(run_id=\? AND seq>\?\)/);
  db.close();
});

test.run();
