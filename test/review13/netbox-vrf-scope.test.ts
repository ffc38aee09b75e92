import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { asStep, cmd, startHarness } from '../support/netbox-harness.ts';

// The contract: list children with `within` *plus `vrf_id`*. Two pools may delegate from the same
// range in two VRFs (L3VPN customers); the children NetBox allocates get their parent's VRF.
async function twoVrfs(holdA?: number, now?: () => number) {
  let ids = { a: 0, b: 0, vrfA: 0, vrfB: 0 };
  const h = await startHarness({
    config: { release: { mode: 'deprecate', hold_down_s: 3600 } },
    ...(now ? { server: { now }, deps: { now } } : {}),
    pools: (s) => {
      const vrfA = s.addVrf('cust-a', '65000:1').id;
      const vrfB = s.addVrf('cust-b', '65000:2').id;
      const a = s.addPrefix({ prefix: '2001:db8::/40', vrfId: vrfA, status: 'container' }).id;
      const b = s.addPrefix({ prefix: '2001:db8::/40', vrfId: vrfB, status: 'container' }).id;
      ids = { a, b, vrfA, vrfB };
      return [
        { name: 'a', prefixLength: 56, netbox: { parent_id: a }, ...(holdA === undefined ? {} : { holdDownS: holdA }) },
        { name: 'b', prefixLength: 56, netbox: { parent_id: b } },
      ];
    },
  });
  return { h, ids };
}

test('allocate() in pool a never takes back the subscriber\'s held-down prefix of pool b (same range, other VRF)', async () => {
  const { h, ids } = await twoVrfs();
  try {
    const inB = await asStep(() => h.ipam.allocate(cmd('x', { pool: 'b', key: 'x:b:1', lifecycleId: 'lc-xb', subscriberId: 'sub-x' })));
    await asStep(() => h.ipam.free({ lifecycleId: 'lc-xb', subscriberId: 'sub-x', pool: 'b', prefix: inB.prefix, netboxPrefixId: inB.netboxPrefixId }));
    const inA = await asStep(() => h.ipam.allocate(cmd('x', { pool: 'a', key: 'x:a:1', lifecycleId: 'lc-xa', subscriberId: 'sub-x' })));
    assert.is.not(inA.netboxPrefixId, inB.netboxPrefixId, 'pool b\'s prefix stays in its hold-down');
    assert.is(h.server.table.rows.get(inA.netboxPrefixId!)?.vrfId, ids.vrfA, 'pool a\'s allocation is in pool a\'s VRF');
    assert.is(h.server.table.rows.get(inB.netboxPrefixId!)?.status, 'deprecated');
  } finally {
    await h.close();
  }
});

test('markedPrefixes() lists each prefix under its own pool only', async () => {
  const { h } = await twoVrfs();
  try {
    await asStep(() => h.ipam.allocate(cmd('y', { pool: 'a' })));
    assert.equal((await h.ipam.markedPrefixes()).map((m) => `${m.pool} ${m.lifecycleId}`), ['a lc-y']);
  } finally {
    await h.close();
  }
});

test('sweep() deletes pool b\'s freed prefix by pool b\'s hold-down, not pool a\'s shorter one', async () => {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const { h } = await twoVrfs(60, () => clock);
  try {
    const inB = await asStep(() => h.ipam.allocate(cmd('z', { pool: 'b' })));
    await asStep(() => h.ipam.free({ lifecycleId: 'lc-z', subscriberId: 'sub-z', pool: 'b', prefix: inB.prefix, netboxPrefixId: inB.netboxPrefixId }));
    clock += 120_000;
    const swept = await h.ipam.sweep();
    assert.is(h.server.table.rows.get(inB.netboxPrefixId!)?.status, 'deprecated', 'still in its hour of hold-down');
    assert.equal(swept, { deleted: 0, kept: 1 });
  } finally {
    await h.close();
  }
});

test.run();
