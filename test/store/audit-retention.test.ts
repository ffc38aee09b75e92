// Pruning the audit trail: only entries older than the cut, of revoked lifecycles, go; every entry
// kept is the same row as before (same seq, same columns); the database refuses any other delete
// and every update, whoever asks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createAuditRetention, pruneAuditOlderThan } from '../../store/audit-retention.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import { turnsDuring } from '../support/event-loop.ts';

const test = suite('store audit retention');
const CUT = '2026-06-01T00:00:00.000Z';
const OLD = '2026-01-01T00:00:00.000Z';
const NEW = '2026-09-01T00:00:00.000Z';

function setup(): Db {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  // Old and new entries of a revoked lifecycle and of a live one, in time order as the service appends them.
  const revoked = lifecycleRow({ id: 'gone', state: 'revoked', revoked_at: NEW });
  const live = lifecycleRow({ id: 'live', state: 'active' });
  for (let i = 0; i < 5; i++) {
    store.save(revoked, { ...auditEntry(revoked, `OLD_${i}`), at: OLD });
    store.save(live, { ...auditEntry(live, `OLD_${i}`), at: OLD });
  }
  store.save(revoked, { ...auditEntry(revoked, 'REVOKE'), at: NEW });
  store.save(live, { ...auditEntry(live, 'SUSPEND'), at: NEW });
  return db;
}

const rows = (db: Db) => db.prepare('SELECT * FROM audit ORDER BY seq').all() as Record<string, unknown>[];

test('pruning removes only entries older than the cut of revoked lifecycles, and leaves every kept row as it was', async () => {
  const db = setup();
  const before = rows(db);
  const pruned = await createAuditRetention(db).prune({ before: CUT, batch: 3 });
  assert.is(pruned, 5);
  const after = rows(db);
  const expected = before.filter((r) => !(r.lifecycle_id === 'gone' && String(r.at) < CUT));
  assert.equal(after, expected);
  assert.equal(after.filter((r) => r.lifecycle_id === 'gone').map((r) => r.type), ['REVOKE']);
});

test('pruning again deletes nothing more; a cut further back deletes nothing', async () => {
  const db = setup();
  const retention = createAuditRetention(db);
  assert.is(await retention.prune({ before: CUT }), 5);
  assert.is(await retention.prune({ before: CUT }), 0);
  assert.is(await retention.prune({ before: '2025-01-01T00:00:00.000Z' }), 0);
  assert.is(rows(db).length, 7);
});

test('what is kept stays append-only: no update, and no delete of a kept entry, even after a prune set a cut', async () => {
  const db = setup();
  await createAuditRetention(db).prune({ before: CUT });
  assert.throws(() => db.prepare("UPDATE audit SET type = 'X' WHERE lifecycle_id = 'gone'").run(), /append-only/);
  assert.throws(() => db.prepare("DELETE FROM audit WHERE lifecycle_id = 'live'").run(), /append-only/, 'older than the cut, but the lifecycle is live');
  assert.throws(() => db.prepare("DELETE FROM audit WHERE lifecycle_id = 'gone'").run(), /append-only/, 'revoked, but newer than the cut');
  assert.is(rows(db).length, 7);
});

test('the cleanup job prunes what is older than jobs.cleanup.audit_retention_days', async () => {
  const db = setup();
  const prune = pruneAuditOlderThan(createAuditRetention(db), 30, () => Date.parse(CUT) + 30 * 86_400_000);
  assert.is(await prune(), 5);
  assert.is(await pruneAuditOlderThan(createAuditRetention(db), 30, () => Date.parse(NEW) + 29 * 86_400_000)(), 0, 'the REVOKE entry is younger than 30 days');
});

test('the pruning runs in batches, giving the event loop back between them', async () => {
  const db = setup();
  const turns = await turnsDuring(() => createAuditRetention(db).prune({ before: CUT, batch: 2 }));
  assert.ok(turns >= 3, `the event loop turned ${turns} time(s)`);
});

test.run();
