// Issue 12's acceptance across both halves: on the adoption test's messy field, applying the import
// and then reconciling leaves no difference the import's report does not explain (each one is a
// prefix the import named in conflict and so did not adopt), the adopted subscribers have none,
// and once the reconciliation has repaired what it may, a second run changes nothing.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../../config.ts';
import { runImport } from '../../../services/adoption/importer.ts';
import { createRadiusFieldReader } from '../../../services/field/radius.ts';
import { SqliteReplyStore } from '../../../services/radius/reply-store.ts';
import { createReconcile } from '../../../runtime/reconcile.ts';
import { createReconciliationStore } from '../../../store/reconciliation.ts';
import { asyncOf } from '../../../store/port.ts';
import { CLEAN, FILE, PLANTED, POOLS, seedField, type Field } from '../../support/adoption-field.ts';

const test = suite('adoption, then reconciliation, over one messy field');
let field: Field;

test.before.each(async () => {
  field = await seedField();
});
test.after.each(async () => {
  await field.close();
});

type Row = { kind: string; prefix: string | null; username: string | null; subscriber_id: string | null; action: string };

function reconciler() {
  const log = pino({ level: 'silent' });
  return createReconcile({
    store: field.deps.store,
    results: asyncOf(createReconciliationStore(field.db)),
    ipam: field.deps.ipam,
    pools: POOLS.map((p) => ({ name: p.name, prefixLength: p.prefix_length })),
    radius: { reader: createRadiusFieldReader(field.radius), replies: new SqliteReplyStore(field.radius, { framedPrefix: 'none', log }), framedPrefix: 'none' },
    cpe: null,
    config: parseConfig({}).reconcile,
    log,
    gauge: () => {},
  });
}

const differences = (items: Record<string, unknown[]>) => Object.values(items).flat() as Row[];

test('after the import is applied, every difference the reconciliation finds is a prefix the import named in conflict', async () => {
  const report = await runImport({ sources: { netbox: { subscriber: { custom_field: 'subscriber_id' } }, radius: { sessions: true }, file: { records: FILE } }, dryRun: false }, field.deps);
  // The field's planted conflicts, except S-LIVE's (it has no earlier lifecycle here, so it adopts).
  assert.equal(report.entries.filter((e) => e.conflicts.length > 0).map((e) => e.prefix).sort(), Object.keys(PLANTED).filter((p) => p !== '2001:db8:0:800::/56').sort());
  assert.equal(report.applied, { adopted: Object.keys(CLEAN).length + 1, failed: [] });
  const conflicted = new Set(report.entries.filter((e) => e.conflicts.length > 0).map((e) => e.prefix));
  const adopted = new Set(report.entries.filter((e) => e.action === 'adopt').map((e) => e.subscriber_id));

  const dry = differences((await reconciler().run({ dryRun: true, signal: new AbortController().signal })).items);
  assert.ok(dry.length > 0, 'the conflicts the import left are differences the reconciliation sees');
  const unexplained = dry.filter((d) => d.prefix === null || !conflicted.has(d.prefix));
  assert.equal(unexplained, [], 'a difference the import report does not explain');
  assert.equal(dry.filter((d) => d.subscriber_id && adopted.has(d.subscriber_id)), [], 'an adopted subscriber has a difference');
  // Conflicted prefixes that RADIUS still serves to nobody the service knows are seen too.
  for (const p of ['2001:db8:0:400::/56', '2001:db8:0:600::/56', '2001:db8:0:900::/56', '2001:dead::/56']) assert.ok(dry.some((d) => d.prefix === p), `${p} not seen`);

  await reconciler().run({ dryRun: false, signal: new AbortController().signal });
  const radreplyAfterRepair = field.radiusDump();
  const again = differences((await reconciler().run({ dryRun: false, signal: new AbortController().signal })).items);
  assert.equal(again.filter((d) => d.action === 'repaired'), [], 'the second run repaired something');
  assert.is(field.radiusDump(), radreplyAfterRepair, 'the second run changed RADIUS');
});

test.run();
