// The ceiling the runtime is measured against: single-row upserts with better-sqlite3 on the same
// table (the real migrations, so the same columns and indexes) with the same pragmas (openDatabase:
// WAL, synchronous = NORMAL), one autocommit statement each. Also the store's own `save` (the
// upsert and its audit row in one transaction), which sits between the two.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../store/db.ts';
import { UPSERT_LIFECYCLE, createLifecycleStore, type AuditEntry, type LifecycleRow } from '../store/lifecycles.ts';
import { perSecond, scratchDir } from './support.ts';

/** `rows` ids, written round-robin `writes` times; each write changes the row as a transition would. */
function variants(sample: LifecycleRow, rows: number): LifecycleRow[] {
  return Array.from({ length: rows }, (_, i) => ({ ...sample, id: `raw-${i}`, subscriber_id: `raw-sub-${i}`, snapshot: sample.snapshot.replaceAll(sample.id, `raw-${i}`) }));
}

export interface RawFigures {
  upsertsPerSecond: number;
  savesPerSecond: number;
  writes: number;
}

export function benchRawUpserts(sample: LifecycleRow, writes: number, rows = 5000): RawFigures {
  const scratch = scratchDir();
  const db = openDatabase(join(scratch.dir, 'raw.sqlite'));
  try {
    const upsert = db.prepare(UPSERT_LIFECYCLE);
    const base = variants(sample, rows);
    const time = (fn: (row: LifecycleRow, i: number) => void) => {
      for (let i = 0; i < Math.min(writes, 2000); i++) fn(base[i % rows]!, i); // warm-up
      const started = performance.now();
      for (let i = 0; i < writes; i++) fn(base[i % rows]!, i);
      return perSecond(writes, performance.now() - started);
    };
    const stamp = (i: number) => new Date(1_700_000_000_000 + i).toISOString();
    const upsertsPerSecond = time((row, i) => void upsert.run({ ...row, busy: i & 1, updated_at: stamp(i) }));
    const store = createLifecycleStore(db);
    const savesPerSecond = time((row, i) => {
      const audit: AuditEntry = { lifecycle_id: row.id, subscriber_id: row.subscriber_id, at: stamp(i), type: 'STEP_DONE', from_state: 'active', to_state: 'active', detail: '{"state":"active.idle"}' };
      store.save({ ...row, busy: i & 1, updated_at: stamp(i) }, audit);
    });
    return { upsertsPerSecond, savesPerSecond, writes };
  } finally {
    db.close();
    scratch.remove();
  }
}
