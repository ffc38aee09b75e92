// A legacy NetBox prefix (not under our mark) in status `deprecated` is a retired subscriber's: the
// import must not adopt it, which would set it `active` in NetBox. `active` and `reserved` ones are
// adopted (both end `active`), a `container` is never an entry. The netbox source and a file line
// naming such a prefix in a NetBox pool alike; the dry run says per line what the real run does.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport, type ImporterDeps } from '../../services/adoption/importer.ts';
import type { ImportReport, ImportSources } from '../../services/adoption/types.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { startHarness, type Harness } from '../support/netbox-harness.ts';

const test = suite('review15: a legacy NetBox prefix in status deprecated is a conflict, not adopted back to life');

const P = { active: '2001:db8:0:100::/56', reserved: '2001:db8:0:200::/56', deprecated: '2001:db8:0:300::/56', container: '2001:db8:0:400::/56', fileOnly: '2001:db8:0:500::/56' };

async function field(): Promise<{ h: Harness; deps: ImporterDeps; close(): void }> {
  const h = await startHarness({ server: { customFields: [...Object.values(MARK_FIELDS), 'subscriber_id'] } });
  for (const status of ['active', 'reserved', 'deprecated', 'container'] as const) {
    h.server.addPrefix({ prefix: P[status], status, customFields: { subscriber_id: `S-${status.toUpperCase()}` } });
  }
  // Named by no rule: only a file line names its subscriber.
  h.server.addPrefix({ prefix: P.fileOnly, status: 'deprecated' });
  const dir = mkdtempSync(join(tmpdir(), 'netstatus15-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  const deps: ImporterDeps = {
    pools: [{ name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' }],
    store: asyncOf(createLifecycleStore(db)),
    ipam: h.ipam,
    netbox: { fieldPrefixes: (signal?: AbortSignal) => h.ipam.fieldPrefixes(signal) },
    radius: null,
  };
  return { h, deps, close: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
}

const verdicts = (r: ImportReport) =>
  Object.fromEntries(
    r.entries.map((e) => {
      const failed = r.applied?.failed.find((f) => f.prefix === e.prefix);
      return [e.prefix, failed ? `refused: ${failed.error}` : e.action === 'conflict' ? `conflict:${e.conflicts.map((c) => c.kind).sort().join(',')}` : e.action];
    }),
  );

const statusIn = (h: Harness, prefix: string) => h.server.prefixes().find((p) => p.prefix === prefix)?.status;

async function dryThenReal(sources: ImportSources, run: (f: Awaited<ReturnType<typeof field>>, dry: ImportReport, real: ImportReport) => void | Promise<void>) {
  const f = await field();
  try {
    const dry = await runImport({ sources, dryRun: true }, f.deps);
    const real = await runImport({ sources, dryRun: false }, f.deps);
    assert.equal(verdicts(dry), verdicts(real), 'the dry run says per line what the real run does');
    assert.equal(real.applied?.failed, []);
    await run(f, dry, real);
  } finally {
    f.close();
    await f.h.close();
  }
}

test('the netbox source: active and reserved adopted (and active), deprecated a netbox_deprecated conflict left deprecated', async () => {
  await dryThenReal({ netbox: { subscriber: { custom_field: 'subscriber_id' } } }, ({ h }, dry, real) => {
    const v = verdicts(real);
    assert.is(v[P.active], 'adopt');
    assert.is(v[P.reserved], 'adopt');
    assert.is(v[P.deprecated], 'conflict:netbox_deprecated');
    assert.is(v[P.container], undefined, 'a container is no subscriber prefix');
    assert.is(v[P.fileOnly], 'conflict:netbox_deprecated,unnamed', 'named beside the conflict it has already');
    const c = real.entries.find((e) => e.prefix === P.deprecated)!.conflicts[0]!;
    assert.match(c.message, /retired in NetBox/);
    assert.match(c.message, /set it active to adopt it/);
    assert.is(dry.summary.conflicts_by_kind.netbox_deprecated, 2);
    assert.is(real.applied?.adopted, 2);
    assert.is(statusIn(h, P.active), 'active');
    assert.is(statusIn(h, P.reserved), 'active', 'a reserved prefix adopted is in service');
    assert.is(statusIn(h, P.deprecated), 'deprecated', 'a retired prefix stays retired');
    assert.is(statusIn(h, P.container), 'container');
  });
});

test('a file line naming a deprecated legacy NetBox prefix: the same conflict, NetBox untouched', async () => {
  const records = [
    { subscriber_id: 'S-FILE', prefix: P.fileOnly },
    { subscriber_id: 'S-RESERVED', prefix: P.reserved },
  ];
  await dryThenReal({ file: { records } }, ({ h }, _dry, real) => {
    const v = verdicts(real);
    assert.is(v[P.fileOnly], 'conflict:netbox_deprecated');
    assert.is(v[P.reserved], 'adopt');
    assert.is(real.applied?.adopted, 1);
    assert.is(statusIn(h, P.fileOnly), 'deprecated');
    assert.is(statusIn(h, P.reserved), 'active');
  });
});

test('an operator who sets the prefix active again has it adopted by the next run', async () => {
  const sources = { file: { records: [{ subscriber_id: 'S-FILE', prefix: P.fileOnly }] } };
  await dryThenReal(sources, async ({ h, deps }, _dry, real) => {
    assert.is(verdicts(real)[P.fileOnly], 'conflict:netbox_deprecated');
    h.server.prefixes().find((p) => p.prefix === P.fileOnly)!.status = 'active';
    const again = await runImport({ sources, dryRun: false }, deps);
    assert.is(verdicts(again)[P.fileOnly], 'adopt');
    assert.is(again.applied?.adopted, 1);
  });
});

test.run();
