// The import's plan refuses a legacy NetBox prefix (not under our mark) in status `deprecated`
// (`netbox_deprecated`), but an operator may retire it between the plan and the apply: adoptOnce
// then PATCHed it back to `active`, a retired subscriber's prefix in service again. adopt() itself
// now refuses it, with the plan's message; our own mark's prefix in its hold-down is still given back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { toErrorAnswer } from '../../http/errors.ts';
import { runImport, type ImporterDeps } from '../../services/adoption/importer.ts';
import { ServiceError } from '../../services/errors.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { failure, startHarness, type Harness } from '../support/netbox-harness.ts';

const test = suite('review16: adopt() refuses a legacy NetBox prefix retired after the plan');

const PREFIX = '2001:db8:0:700::/56';
const statusIn = (h: Harness, prefix: string) => h.server.prefixes().find((p) => p.prefix === prefix)?.status;

test('adopt(): an unmarked deprecated prefix is netbox_deprecated on prefix, NetBox left deprecated', async () => {
  const h = await startHarness();
  try {
    const legacy = h.server.addPrefix({ prefix: PREFIX, status: 'deprecated' });
    const cmd = { lifecycleId: 'lc-r16', subscriberId: 'S-R16', key: 'lc-r16:allocate:0', pool: 'pd', prefix: PREFIX };
    for (const c of [cmd, { ...cmd, netboxPrefixId: legacy.id }]) {
      const err = await failure(h.ipam.adopt(c));
      assert.is(err.code, 'netbox_deprecated');
      assert.is(err.field, 'prefix');
      assert.is(err.message, `${PREFIX} (NetBox id ${legacy.id}) is retired in NetBox (status deprecated): set it active to adopt it`);
      assert.is(err.retryable, false);
    }
    assert.is(statusIn(h, PREFIX), 'deprecated');
    assert.equal(h.server.prefixes().find((p) => p.prefix === PREFIX)!.tags ?? [], [], 'not tagged either');
  } finally {
    await h.close();
  }
});

test('adopt(): our own marked prefix in its hold-down is still given back to its lifecycle (active)', async () => {
  const h = await startHarness();
  try {
    const cmd = { lifecycleId: 'lc-r16b', subscriberId: 'S-R16B', key: 'lc-r16b:allocate:0', pool: 'pd', prefix: PREFIX };
    const first = await h.ipam.adopt(cmd);
    await h.ipam.release({ lifecycleId: cmd.lifecycleId, subscriberId: cmd.subscriberId, pool: 'pd', prefix: PREFIX, netboxPrefixId: first.netboxPrefixId });
    assert.is(statusIn(h, PREFIX), 'deprecated', 'released into its hold-down');
    const again = await h.ipam.adopt(cmd);
    assert.is(again.netboxPrefixId, first.netboxPrefixId);
    assert.is(statusIn(h, PREFIX), 'active');
  } finally {
    await h.close();
  }
});

test('an import whose line is retired after its plan: applied.failed names it, NetBox keeps it deprecated, the next plan says netbox_deprecated', async () => {
  const h = await startHarness({ server: { customFields: [...Object.values(MARK_FIELDS), 'subscriber_id'] } });
  const dir = mkdtempSync(join(tmpdir(), 'review16-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  try {
    const legacy = h.server.addPrefix({ prefix: PREFIX, status: 'active', customFields: { subscriber_id: 'S-LEGACY' } });
    let retireAfterListing = true;
    const deps: ImporterDeps = {
      pools: [{ name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' }],
      store: asyncOf(createLifecycleStore(db)),
      ipam: h.ipam,
      // The operator retires it once the plan has read NetBox's listing, before the apply.
      netbox: {
        fieldPrefixes: async (signal?: AbortSignal) => {
          const listing = await h.ipam.fieldPrefixes(signal);
          if (retireAfterListing) h.server.prefixes().find((p) => p.id === legacy.id)!.status = 'deprecated';
          return listing;
        },
      },
      radius: null,
    };
    const sources = { netbox: { subscriber: { custom_field: 'subscriber_id' } } };
    const real = await runImport({ sources, dryRun: false }, deps);
    assert.is(real.entries[0]!.action, 'adopt', 'planned on the listing read before the operator retired it');
    assert.is(real.applied?.adopted, 0);
    assert.equal(real.applied?.failed, [
      { subscriber_id: 'S-LEGACY', prefix: PREFIX, error: `${PREFIX} (NetBox id ${legacy.id}) is retired in NetBox (status deprecated): set it active to adopt it` },
    ]);
    assert.is(statusIn(h, PREFIX), 'deprecated', 'a retired prefix stays retired');
    assert.is(await deps.store.holder(real.entries[0]!.lifecycle_id!), undefined, 'no lifecycle stored for it');
    retireAfterListing = false;
    const next = await runImport({ sources, dryRun: true }, deps);
    assert.equal(next.entries[0]!.conflicts, [{ kind: 'netbox_deprecated', message: real.applied!.failed[0]!.error }], 'the plan says it in the same words');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    await h.close();
  }
});

test('toErrorAnswer(netbox_deprecated): a code API.md lacks is answered as upstream_rejected, its message kept', () => {
  const a = toErrorAnswer(new ServiceError('netbox_deprecated', 'retired', { field: 'prefix' }));
  assert.is(a.status, 502);
  assert.equal(a.body, { error: { code: 'upstream_rejected', message: 'retired', field: 'prefix' } });
});

test.run();
