// Adoption from NetBox as docs/adoption.md tells it: the pool parent's prefixes in every status the
// contract has (container, active, reserved, deprecated), named by tenant, by custom field, or not
// at all, plus a file line for a prefix of ours NetBox holds down (deprecated under our mark after a
// revocation). The dry run must say per line what the real run does, and a second run adopt nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runImport, type ImporterDeps } from '../../services/adoption/importer.ts';
import type { ImportReport, SubscriberRule } from '../../services/adoption/types.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { cmd, startHarness, type Harness } from '../support/netbox-harness.ts';

const test = suite('review15: a NetBox import, dry and real, over every prefix status and tenant shape');

const tenant = (id: number, slug: string) => ({ id, name: `Customer ${slug}`, slug });

async function field(): Promise<{ h: Harness; deps: ImporterDeps; held: string; close(): void }> {
  const h = await startHarness({ server: { customFields: [...Object.values(MARK_FIELDS), 'subscriber_id'] }, config: { release: { mode: 'deprecate' } } });
  const nb = h.server;
  nb.addPrefix({ prefix: '2001:db8:0:100::/56', status: 'active', tenant: tenant(1, 'T-ACTIVE'), customFields: { subscriber_id: 'T-ACTIVE' } });
  nb.addPrefix({ prefix: '2001:db8:0:200::/56', status: 'reserved', tenant: tenant(2, 'T-RESERVED'), customFields: { subscriber_id: 'T-RESERVED' } });
  nb.addPrefix({ prefix: '2001:db8:0:300::/56', status: 'deprecated', tenant: tenant(3, 'T-DEPRECATED'), customFields: { subscriber_id: 'T-DEPRECATED' } });
  nb.addPrefix({ prefix: '2001:db8:0:400::/56', status: 'container', tenant: tenant(4, 'T-CONTAINER'), customFields: { subscriber_id: 'T-CONTAINER' } });
  nb.addPrefix({ prefix: '2001:db8:0:500::/56', status: 'active' });
  nb.addPrefix({ prefix: '2001:db8:0:600::/56', status: 'active', tenant: tenant(1, 'T-ACTIVE') });
  // A revoked lifecycle's prefix in its NetBox hold-down: deprecated under our mark.
  const mine = await h.ipam.allocate(cmd('gone'));
  await h.ipam.release({ lifecycleId: 'lc-gone', subscriberId: 'sub-gone', pool: 'pd', prefix: mine.prefix, netboxPrefixId: mine.netboxPrefixId });
  const dir = mkdtempSync(join(tmpdir(), 'dryrun15-nb-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  const deps: ImporterDeps = {
    pools: [{ name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' }],
    store: asyncOf(createLifecycleStore(db)),
    ipam: h.ipam,
    netbox: { fieldPrefixes: (signal?: AbortSignal) => h.ipam.fieldPrefixes(signal) },
    radius: null,
  };
  return { h, deps, held: mine.prefix, close: () => (db.close(), rmSync(dir, { recursive: true, force: true })) };
}

const verdicts = (r: ImportReport) =>
  Object.fromEntries(
    r.entries.map((e) => {
      const failed = r.applied?.failed.find((f) => f.prefix === e.prefix);
      return [e.prefix, failed ? `refused: ${failed.error}` : e.action === 'conflict' ? `conflict:${e.conflicts.map((c) => c.kind).sort().join(',')}` : e.action];
    }),
  );

for (const rule of [{ tenant: 'slug' }, { custom_field: 'subscriber_id' }] as SubscriberRule[]) {
  test(`rule ${JSON.stringify(rule)}: the dry run's verdicts are the real run's, and a second run adopts nothing`, async () => {
    const f = await field();
    try {
      const sources = { netbox: { subscriber: rule }, file: { records: [{ subscriber_id: 'S-REUSE', prefix: f.held }] } };
      const dry = await runImport({ sources, dryRun: true }, f.deps);
      const real = await runImport({ sources, dryRun: false }, f.deps);
      assert.equal(verdicts(dry), verdicts(real));
      assert.equal(real.applied?.failed, []);
      assert.is(verdicts(real)[f.held], 'conflict:ipam_held');
      assert.is(verdicts(real)['2001:db8:0:400::/56'], undefined, 'a container is no subscriber prefix');
      const again = await runImport({ sources, dryRun: true }, f.deps);
      assert.is(again.summary.adopt, 0);
      assert.is(again.summary.adopted, real.applied!.adopted);
    } finally {
      f.close();
      await f.h.close();
    }
  });
}

test.run();
