// newerOnCpe, asked before each due CPE step (runtime/pending-worker.ts), is one seek on
// lifecycles_live_cpe_since (migration 020): the index on (cpe_id, created_at) left the order by
// coalesce(activated_at, created_at) to a scan of every live row of the CPE and a sort (59 ms a call
// with 20,000 on one CPE). The answer is the same one: the live lifecycle that took the CPE last.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore, NEWER_ON_CPE } from '../../store/lifecycles.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review16 newerOnCpe seek (SQLite)');

test('SQLite: EXPLAIN QUERY PLAN of newerOnCpe searches lifecycles_live_cpe_since by CPE and time, no scan, no sort', () => {
  const db = openDatabase(':memory:');
  try {
    const lines = db
      .prepare<{ cpe_id: string; since: string }, { detail: string }>(`EXPLAIN QUERY PLAN ${NEWER_ON_CPE}`)
      .all({ cpe_id: 'x', since: 'x' })
      .map((r) => r.detail);
    assert.equal(lines, ['SEARCH lifecycles USING INDEX lifecycles_live_cpe_since (cpe_id=? AND <expr>>?)'], lines.join(' | '));
    assert.not.ok(lines.some((l) => /^SCAN|TEMP B-TREE/.test(l)), lines.join(' | '));
    const indexes = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lifecycles' AND name LIKE 'lifecycles_live_cpe%'").all();
    assert.equal(indexes.map((r) => r.name), ['lifecycles_live_cpe_since'], 'the index on created_at is gone');
  } finally {
    db.close();
  }
});

test('SQLite: through the index, newerOnCpe answers the live lifecycle activated last, not the one created last', () => {
  const db = openDatabase(':memory:');
  try {
    const store = createLifecycleStore(db);
    const gone = lifecycleRow({ id: 'gone', state: 'revoked', cpe_id: 'CPE-1', created_at: '2026-01-01T00:00:00.000Z', activated_at: '2026-01-01T00:00:01.000Z' });
    store.save(gone, null);
    // Created after `gone` but activated before it: its time on the CPE is the activation.
    store.save(lifecycleRow({ id: 'early', state: 'active', cpe_id: 'CPE-1', created_at: '2026-01-02T00:00:00.000Z', activated_at: '2025-12-31T00:00:00.000Z' }), null);
    assert.is(store.newerOnCpe('CPE-1', gone), null);
    store.save(lifecycleRow({ id: 'first', state: 'active', cpe_id: 'CPE-1', created_at: '2026-01-03T00:00:00.000Z', activated_at: '2026-01-09T00:00:00.000Z' }), null);
    // Created last, never activated: created_at stands in, and it is before `first`'s activation.
    store.save(lifecycleRow({ id: 'last-created', state: 'allocated', cpe_id: 'CPE-1', created_at: '2026-01-05T00:00:00.000Z', activated_at: null }), null);
    store.save(lifecycleRow({ id: 'revoked-later', state: 'revoked', cpe_id: 'CPE-1', created_at: '2026-01-06T00:00:00.000Z', activated_at: '2026-01-10T00:00:00.000Z' }), null);
    store.save(lifecycleRow({ id: 'other-cpe', state: 'active', cpe_id: 'CPE-2', created_at: '2026-01-07T00:00:00.000Z', activated_at: '2026-01-11T00:00:00.000Z' }), null);
    assert.is(store.newerOnCpe('CPE-1', gone), 'first');
    assert.is(store.newerOnCpe('CPE-1', { id: 'x', created_at: '2026-01-01T00:00:00.000Z', activated_at: '2026-01-09T00:00:00.000Z' }), null, 'strictly later only');
  } finally {
    db.close();
  }
});

test.run();
