import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { persistedSnapshot } from '../../runtime/projection.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';
import { startHarness } from '../http/support.ts';

// Every state of the model round-trips through the codec in test/machines/rehydration.test.ts; this
// checks what the store holds, and that migration 011 rewrites the snapshots stored before it.
const test = suite('snapshot codec');

test('a settled lifecycle stores only its state and what differs from the defaults, and decodes to the actor’s snapshot', async () => {
  const h = await startHarness();
  try {
    await h.post('allocate', { subscriber_id: 'c1' });
    await h.post('activate', { subscriber_id: 'c1', username: 'c1@isp', cpe_id: 'CPE-c1' });
    const row = h.composed.store.live('c1')!;
    assert.is(row.snapshot, '{"v":2,"s":"active.idle","c":{"ipam":"fake"}}');
    const actor = (await h.composed.host.snapshot(row.id))!;
    assert.equal(decodeSnapshot(row).context, actor.context);
  } finally {
    await h.close();
  }
});

test('migration 011 rewrites a snapshot stored in full; the lifecycle decodes to the same snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'codec-test-'));
  try {
    const h = await startHarness({ dir });
    await h.post('allocate', { subscriber_id: 'm1' });
    await h.post('activate', { subscriber_id: 'm1', username: 'm1@isp' });
    const row = h.composed.store.live('m1')!;
    const full = JSON.stringify(decodeSnapshot(row));
    await h.close();
    // What a database written before version 2 holds: the plain persisted snapshot. The migration's
    // own SQL runs on it (rerunning every migration from before it would redo the later ones too).
    const after = openDatabase(join(dir, 'x.sqlite'));
    after.prepare('UPDATE lifecycles SET snapshot = ? WHERE id = ?').run(full, row.id);
    after.exec(readFileSync(new URL('../../store/migrations/011-compact-snapshots.sql', import.meta.url), 'utf8'));
    const migrated = createLifecycleStore(after).get(row.id)!;
    after.close();
    assert.is(migrated.snapshot, row.snapshot);
    assert.equal(persistedSnapshot(migrated), JSON.parse(full));
    assert.ok(full.length > 10 * migrated.snapshot.length, `${full.length} bytes → ${migrated.snapshot.length}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
