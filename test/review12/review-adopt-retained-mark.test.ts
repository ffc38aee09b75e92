// Review of 1dace6f: a NetBox prefix under the mark of a lifecycle the store does not have is adopted
// under that lifecycle's id. The store asks only the live table, so a lifecycle revoked and then
// deleted by the retention (its audit trail kept, as README says) is "forgotten" too: a prefix it
// leaked in NetBox (the release never went through) was planned to be adopted under the revoked
// lifecycle's id, resurrecting a terminated lifecycle whose trail says revoked. docs/adoption.md says
// a mark of a lifecycle the store has, revoked too, is the conflict marked_lifecycle. (The lifecycle
// here was itself adopted, the quickest to seed; an allocated one's random id reads the same.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport } from '../../services/adoption/importer.ts';
import { createRetentionStore } from '../../store/retention.ts';
import { seedField, type Field } from '../support/adoption-field.ts';

const test = suite('review12: a NetBox prefix under the mark of a lifecycle the retention deleted');
let field: Field;
test.before.each(async () => {
  field = await seedField();
});
test.after.each(async () => {
  await field.close();
});

const PREFIX = '2001:db8:0:a00::/56';

test('is the conflict marked_lifecycle, not adopted under the revoked lifecycle\'s id', async () => {
  const first = await runImport({ sources: { file: { records: [{ subscriber_id: 'S-OLD', prefix: PREFIX }] } }, dryRun: false }, field.deps);
  assert.is(first.applied?.adopted, 1, JSON.stringify(first.applied));
  const id = first.entries[0]!.lifecycle_id!;
  // Its revocation ended here while NetBox kept the prefix (a leak), and the retention deleted the row.
  field.db.prepare("UPDATE lifecycles SET state = 'revoked', revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = ?").run(id);
  assert.is(createRetentionStore(field.db).remove([id], '2021-01-01T00:00:00.000Z'), 1);
  assert.ok(field.store.events('S-OLD').some((e) => e.lifecycle_id === id), 'its audit trail stays');
  assert.ok(field.harness.server.prefixes().some((p) => p.prefix === PREFIX && p.customFields.lifecycle_id === id), 'NetBox holds it under its mark');

  const plan = await runImport({ sources: { netbox: { subscriber: { custom_field: 'subscriber_id' } } }, dryRun: true }, field.deps);
  const e = plan.entries.find((x) => x.prefix === PREFIX);
  assert.ok(e, JSON.stringify(plan.entries.map((x) => x.prefix)));
  assert.is(e!.action, 'conflict', JSON.stringify(e));
  assert.ok(e!.conflicts.some((c) => c.kind === 'marked_lifecycle'), JSON.stringify(e!.conflicts));
});

test.run();
