import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { heldPrefixes } from '../../../services/field/ipam.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import { createIpamRouter } from '../../../services/ipam/router.ts';
import { openDatabase } from '../../../store/db.ts';
import { cmd, startHarness } from '../../support/netbox-harness.ts';

const test = suite('field readers: what IPAM holds');

test('NetBox: marked, unmarked and foreign prefixes under the pool parent; hold-downs and other parents left out', async () => {
  const h = await startHarness({ config: { release: { mode: 'deprecate', hold_down_s: 3600 } } });
  const ours = await h.ipam.allocate(cmd('a'));
  const freed = await h.ipam.allocate(cmd('b'));
  await h.ipam.free({ lifecycleId: 'lc-b', pool: 'pd', prefix: freed.prefix, netboxPrefixId: freed.netboxPrefixId });
  h.server.addPrefix({ prefix: '2001:db8:f0::/56', status: 'active', description: 'legacy: cust 1234' });
  h.server.addPrefix({ prefix: '2001:db8:e0::/48', status: 'active', description: 'infrastructure' });
  h.server.addPrefix({ prefix: '2001:db9::/56', status: 'active', description: 'outside every pool' });
  const router = createIpamRouter(new Map([['pd', h.ipam]]));
  const held = await heldPrefixes(router);
  assert.equal(
    held.map((p) => [p.prefix, p.prefixLength, p.lifecycleId, p.source]).sort(),
    [
      [ours.prefix, 56, 'lc-a', 'netbox'],
      ['2001:db8:e0::/48', 48, null, 'netbox'],
      ['2001:db8:f0::/56', 56, null, 'netbox'],
    ].sort(),
  );
  const legacy = held.find((p) => p.prefix === '2001:db8:f0::/56')!;
  assert.is(legacy.netbox?.description, 'legacy: cust 1234');
  assert.is(held.find((p) => p.lifecycleId === 'lc-a')?.subscriberId, 'sub-a');
  await h.close();
});

test('embedded IPAM: every held block, under the lifecycle that holds it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'field-ipam-'));
  const db = openDatabase(join(dir, 'db.sqlite'));
  const ipam = createEmbeddedIpam(db, [{ name: 'pd', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const a = await ipam.allocate(cmd('a'));
  const held = await heldPrefixes(createIpamRouter(new Map([['pd', ipam]])));
  assert.equal(held.map((p) => [p.source, p.pool, p.prefix, p.prefixLength, p.lifecycleId]), [['ipam', 'pd', a.prefix, 56, 'lc-a']]);
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
