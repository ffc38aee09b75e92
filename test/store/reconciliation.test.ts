import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createReconciliationStore } from '../../store/reconciliation.ts';

const test = suite('store: the last reconciliation run (migration 012)');

test('the stored list pages by kind and each run replaces the last', () => {
  const db = openDatabase(':memory:');
  const results = createReconciliationStore(db);
  const row = (kind: string, n: number) => ({ kind, lifecycle_id: null, subscriber_id: null, username: `u${n}`, prefix: null, cpe_id: null, action: 'reported' as const, detail: { n } });
  const run = { started_at: '2026-01-01T00:00:00.000Z', finished_at: '2026-01-01T00:00:01.000Z', dry_run: false, counts: { a: 3 } };
  results.replace(run, [row('a', 1), row('b', 2), row('a', 3), row('a', 4)]);
  const first = results.page({ kind: 'a', limit: 2 });
  assert.equal(first.items.map((i) => i.username), ['u1', 'u3']);
  const second = results.page({ kind: 'a', limit: 2, after: first.next! });
  assert.equal([second.items.map((i) => i.username), second.next], [['u4'], null]);
  results.replace({ ...run, dry_run: true }, [row('b', 9)]);
  assert.equal(results.page({ limit: 10 }).items.map((i) => i.username), ['u9']);
  assert.is(results.lastRun()?.dry_run, true);
  db.close();
});

test.run();
