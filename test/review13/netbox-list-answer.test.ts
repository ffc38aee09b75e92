import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { heldPrefixes } from '../../services/field/ipam.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import { compareIpam, emptyIndex } from '../../runtime/reconcile-checks.ts';
import { asStep, cmd, startHarness } from '../support/netbox-harness.ts';
import { startVariant } from './netbox-variant.ts';

// The OpenAPI subset answers `201` of POST .../available-prefixes/ with an array of Prefix; the
// README says the answer mirrors the request. A stand-in built from the spec answers a list: the
// prefix is created either way, so reading only an object fails the step after NetBox committed.
test('allocate → adopt → release → free → leak check → reconcile against pages of 1, a list answer and 429 Retry-After', async () => {
  const h = await startHarness();
  const v = await startVariant(h.server.url, { pageSize: 1, listAnswer: true, retryAfter: '1' });
  try {
    const ipam = h.client({ url: v.url });
    const foreign = h.server.addPrefix({ prefix: '2001:db8:0:f000::/56', description: 'hand-made' });
    const started = Date.now();
    const a = await asStep(() => ipam.allocate(cmd('a')));
    assert.ok(Date.now() - started >= 1000, 'the 429\'s Retry-After: 1 was waited out');
    assert.is(a.prefix, '2001:db8::/56');
    const b = await asStep(() => ipam.allocate(cmd('b')));
    assert.is(b.prefix, '2001:db8:0:100::/56');
    // A repeat of the step finds its prefix by key, walking pages of one.
    assert.equal(await asStep(() => ipam.allocate(cmd('a'))), a);
    const adopted = await asStep(() =>
      ipam.adopt({ lifecycleId: 'lc-f', subscriberId: 'sub-f', key: 'f:allocate:1', pool: 'pd', prefix: '2001:db8:0:f000::/56', netboxPrefixId: null }),
    );
    assert.is(adopted.netboxPrefixId, foreign.id);
    assert.is(h.server.table.rows.get(foreign.id)?.tags.includes('ipv6-lifecycle'), true);
    const marked = (await ipam.markedPrefixes()).map((m) => `${m.lifecycleId} ${m.prefix}`).sort();
    assert.equal(marked, ['lc-a 2001:db8::/56', 'lc-b 2001:db8:0:100::/56', 'lc-f 2001:db8:0:f000::/56']);

    for (const [id, al] of [['a', a], ['f', adopted]] as const) {
      const rel = { lifecycleId: `lc-${id}`, subscriberId: `sub-${id}`, pool: 'pd', prefix: al.prefix, netboxPrefixId: al.netboxPrefixId };
      await asStep(() => ipam.release(rel));
      await asStep(() => ipam.free(rel));
    }
    assert.equal(
      h.server.prefixes().map((p) => `${p.prefix} ${p.status}`),
      ['2001:db8::/40 container', '2001:db8:0:100::/56 active'],
      'a deleted, f deleted (release.mode delete), b kept',
    );
    assert.equal((await ipam.markedPrefixes()).map((m) => m.lifecycleId), ['lc-b']);

    // Reconcile's IPAM side with no lifecycle left: b is the one marked orphan, nothing else is held.
    const held = await heldPrefixes(createIpamRouter(new Map([['pd', ipam]])));
    const found = compareIpam(emptyIndex(), held, new Map([['pd', 56]]));
    assert.equal(found.map((f) => `${f.kind} ${f.prefix} ${f.repairable}`), ['ipam_orphan 2001:db8:0:100::/56 true']);
    assert.equal(v.throttled.map((t) => t.split(' ')[0]).sort(), ['DELETE', 'GET', 'PATCH', 'POST']);
    assert.is(h.server.created, 2, 'one POST per allocation: none repeated after a list answer');
  } finally {
    await v.close();
    await h.close();
  }
});

test.run();
