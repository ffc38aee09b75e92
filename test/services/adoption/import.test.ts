import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport, type ImportRequest } from '../../../services/adoption/importer.ts';
import { readMark } from '../../../services/netbox/mark.ts';
import { readContext } from '../../../runtime/projection.ts';
import { CLEAN, FILE, PLANTED, seedField, type Field } from '../../support/adoption-field.ts';

const test = suite('adoption: import over a seeded messy field');
let field: Field;

test.before.each(async () => {
  field = await seedField();
  await seedLiveLifecycle();
});
test.after.each(async () => {
  await field.close();
});

const request = (dryRun: boolean, batch = 500): ImportRequest => ({
  sources: { netbox: { subscriber: { custom_field: 'subscriber_id' } }, radius: { sessions: true }, file: { records: FILE } },
  options: { batch_size: batch },
  dryRun,
});

/** A live lifecycle of S-LIVE with another prefix, adopted earlier from a file. */
async function seedLiveLifecycle() {
  const r = await runImport({ sources: { file: { records: [{ subscriber_id: 'S-LIVE', prefix: '2001:db9:0:f00::/56' }] } }, dryRun: false }, field.deps);
  assert.is(r.applied?.adopted, 1);
}

const netboxView = () => JSON.stringify(field.harness.server.prefixes().map((p) => [p.id, p.prefix, p.status, p.description, p.tags, p.customFields]));

const conflictsOf = (entries: Awaited<ReturnType<typeof runImport>>['entries']) =>
  Object.fromEntries(entries.filter((e) => e.conflicts.length > 0).map((e) => [e.prefix, e.conflicts.map((c) => c.kind)]));

test('the dry run names every planted conflict and nothing else, plans the rest, and changes nothing', async () => {
  const radiusBefore = field.radiusDump();
  const netboxBefore = netboxView();
  const report = await runImport(request(true), field.deps);
  assert.equal(conflictsOf(report.entries), PLANTED);
  const adopt = Object.fromEntries(report.entries.filter((e) => e.action === 'adopt').map((e) => [e.prefix, [e.subscriber_id, e.state, e.username, e.cpe_id]]));
  assert.equal(adopt, CLEAN);
  assert.equal(report.entries.find((e) => e.prefix === '2001:db8:0:100::/56')?.sources, ['file', 'netbox', 'radacct', 'radreply']);
  assert.is(report.summary.conflict, Object.keys(PLANTED).length);
  assert.is(report.applied, null);
  assert.is(field.radiusDump(), radiusBefore);
  assert.is(netboxView(), netboxBefore);
  assert.equal(field.store.countByState(), { allocated: 1 }, 'only the seeded lifecycle');
});

test('a rule by tenant or by description pattern names the same subscribers as the custom field', async () => {
  for (const subscriber of [{ tenant: 'slug' as const }, { description: 'customer (\\S+)$' }]) {
    const report = await runImport({ ...request(true), sources: { ...request(true).sources, netbox: { subscriber } } }, field.deps);
    assert.equal(conflictsOf(report.entries), PLANTED, JSON.stringify(subscriber));
    assert.equal(report.entries.filter((e) => e.action === 'adopt').map((e) => e.subscriber_id).sort(), ['S-ACTIVE', 'S-ALLOC', 'S-SUSP']);
  }
});

test('applying creates lifecycles in the planned states, marks NetBox, leaves RADIUS alone; a second run adopts nothing', async () => {
  const radiusBefore = field.radiusDump();
  const report = await runImport(request(false), field.deps);
  assert.equal(report.applied, { adopted: 3, failed: [] });
  for (const [prefix, [subscriber, state, username, cpe]] of Object.entries(CLEAN)) {
    const row = field.store.live(subscriber)!;
    assert.equal([row.state, row.prefix, row.username, row.cpe_id, row.busy], [state, prefix, username, cpe, 0], subscriber);
    assert.equal(readContext(row).current?.generation, 0);
    const [event] = field.store.events(subscriber);
    assert.equal([event?.type, JSON.parse(event!.detail!).sources], ['IMPORTED', report.entries.find((e) => e.prefix === prefix)!.sources]);
  }
  for (const prefix of ['2001:db8:0:100::/56', '2001:db8:0:200::/56']) {
    const nb = field.harness.server.prefixes().find((p) => p.prefix === prefix)!;
    const mark = readMark({ description: nb.description, tags: nb.tags.map((name) => ({ name })), custom_fields: nb.customFields }, 'ipv6-lifecycle');
    assert.is(mark?.lifecycleId, report.entries.find((e) => e.prefix === prefix)!.lifecycle_id);
    assert.is(nb.customFields.subscriber_id, CLEAN[prefix]![0], 'the operator\'s own fields stay');
  }
  const unmarked = field.harness.server.prefixes().filter((p) => p.tags.length > 0).map((p) => p.prefix).sort();
  assert.equal(unmarked, ['2001:db8:0:100::/56', '2001:db8:0:200::/56'], 'only adopted prefixes are marked');
  assert.is(field.radiusDump(), radiusBefore);

  const again = await runImport(request(false), field.deps);
  assert.equal(again.applied, { adopted: 0, failed: [] });
  assert.equal([again.summary.adopt, again.summary.adopted], [0, 3]);
  assert.equal(conflictsOf(again.entries), PLANTED);
  assert.is(field.store.list({ limit: 100 }).length, 4, 'S-LIVE\'s and the three adopted');
});

test('a run killed mid-apply, after IPAM adopted a prefix and before its lifecycle was stored, completes exactly when run again', async () => {
  const abort = new AbortController();
  let calls = 0;
  const inner = field.deps.ipam;
  const dying = {
    ...inner,
    adopt: async (cmd: Parameters<typeof inner.adopt>[0], signal?: AbortSignal) => {
      const out = await inner.adopt(cmd, signal);
      if (++calls === 2) {
        abort.abort(new Error('killed'));
        throw new Error('killed');
      }
      return out;
    },
  };
  await runImport(request(false, 1), { ...field.deps, ipam: dying }, abort.signal).then(
    () => assert.unreachable('the run was killed'),
    (err: Error) => assert.match(String(err.message ?? err), /killed/),
  );
  assert.is(field.store.list({ limit: 100 }).length, 2, 'S-LIVE\'s, and the one batch committed before the kill');
  const rerun = await runImport(request(false, 1), field.deps);
  assert.equal(rerun.applied, { adopted: 2, failed: [] });
  const rows = field.store.list({ limit: 100 });
  assert.equal(rows.map((r) => r.prefix).sort(), [...Object.keys(CLEAN), '2001:db9:0:f00::/56'].sort());
  assert.equal(rows.map((r) => `${r.subscriber_id} ${r.state}`).sort(), ['S-ACTIVE active', 'S-ALLOC allocated', 'S-LIVE allocated', 'S-SUSP suspended']);
  const marked = (await field.deps.ipam.markedPrefixes()).map((m) => [m.prefix, m.lifecycleId]).sort();
  assert.equal(marked, rows.map((r) => [r.prefix, r.id]).sort(), 'IPAM holds one block per lifecycle, nothing more');
});

test.run();
