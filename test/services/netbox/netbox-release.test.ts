import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Allocation, ReleaseCommand } from '../../../services/ipam/port.ts';
import { asStep, cmd, failure, startHarness } from '../../support/netbox-harness.ts';

const rel = (id: string, a: Allocation, over: Partial<ReleaseCommand> = {}): ReleaseCommand => ({
  lifecycleId: `lc-${id}`,
  pool: 'pd',
  prefix: a.prefix,
  netboxPrefixId: a.netboxPrefixId,
  ...over,
});

const release = suite('NetBox release');

release('free() deletes the prefix (DELETE, 204), and freeing it again (404) is success', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('r'));
  await h.ipam.free(rel('r', a));
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0));
  await h.ipam.free(rel('r', a));
  assert.ok(h.server.requests.some((r) => r.method === 'DELETE'));
  await h.close();
});

release('release() never deletes a prefix without our mark, nor another lifecycle\'s, and says so in the log', async () => {
  const h = await startHarness();
  const foreign = h.server.addPrefix({ prefix: '2001:db8:ff::/56', description: 'core links' });
  const fake = { prefix: foreign.prefix, prefixLength: 56, netboxPrefixId: foreign.id };
  await h.ipam.free(rel('intruder', fake));
  const other = await h.ipam.allocate(cmd('owner'));
  await h.ipam.free(rel('intruder', other));
  await h.ipam.free(rel('intruder', other, { netboxPrefixId: null }));
  // The id now names a different prefix than the lifecycle recorded: leave it.
  await h.ipam.free(rel('owner', other, { prefix: '2001:db8:ff::/56' }));
  assert.ok(h.server.table.rows.has(foreign.id), 'the unmarked prefix is still there');
  assert.ok(h.server.table.rows.has(other.netboxPrefixId ?? 0), 'the other lifecycle\'s prefix is still there');
  assert.not.ok(h.server.requests.some((r) => r.method === 'DELETE' || r.method === 'PATCH'));
  assert.is(h.logs.filter((l) => l.includes('lacks this lifecycle')).length, 4);
  await h.close();
});

release('release() without a NetBox id finds the prefix by value and mark', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('noid'));
  await h.ipam.free(rel('noid', a, { netboxPrefixId: null }));
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0));
  await h.close();
});

release('release() gives back a prefix of a pool that is no longer configured, or whose parent is gone', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('old'));
  h.server.table.rows.delete(1);
  await h.client().free(rel('old', a, { pool: 'removed' }));
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0));
  await h.close();
});

release('release() repeated by the step runner after 503s still deletes exactly our prefix', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('r503'));
  h.server.failNext(2, { method: 'DELETE' });
  assert.is((await failure(h.ipam.free(rel('r503', a)))).code, 'upstream_unavailable', 'one attempt: the 503 is the answer');
  await asStep(() => h.ipam.free(rel('r503', a)));
  assert.is(h.server.requests.filter((r) => r.method === 'DELETE').length, 3);
  const reads = h.server.requests.filter((r) => r.method === 'GET' && r.path === `/api/ipam/prefixes/${a.netboxPrefixId}/`);
  assert.is(reads.length, 3, 'every attempt reads the prefix again before deleting');
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0));
  await h.close();
});

release('release() in delete mode only quarantines: the prefix stays, deprecated, and is handed to nobody until free() deletes it', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('q'));
  await h.ipam.release(rel('q', a));
  assert.is(h.server.table.rows.get(a.netboxPrefixId ?? 0)?.status, 'deprecated', 'still in NetBox: RADIUS may carry it');
  assert.is.not((await h.ipam.allocate(cmd('other'))).prefix, a.prefix, 'not handed out while quarantined');
  assert.equal(await h.ipam.sweep(), { deleted: 0, kept: 0 }, 'the sweep leaves a quarantined prefix alone');
  await h.ipam.free(rel('q', a));
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0), 'free() deletes it: hold-down 0 in delete mode');
  await h.close();
});

const hold = suite('NetBox deprecate mode and sweep');

hold('release() quarantines (deprecated); free() starts the hold-down; the block stays taken until sweep() after it', async () => {
  let clock = Date.now();
  const h = await startHarness({ config: { release: { mode: 'deprecate', hold_down_s: 3600 } }, deps: { now: () => clock } });
  const a = await h.ipam.allocate(cmd('dep'));
  await h.ipam.release(rel('dep', a));
  await h.ipam.release(rel('dep', a));
  assert.is(h.server.table.rows.get(a.netboxPrefixId ?? 0)?.status, 'deprecated');
  assert.is(h.server.requests.filter((r) => r.method === 'PATCH').length, 1, 'the second release sees it deprecated already');
  assert.equal(await h.ipam.markedPrefixes(), [], 'a prefix in hold-down is no longer held by a lifecycle');
  assert.is.not((await h.ipam.allocate(cmd('next'))).prefix, a.prefix, 'not handed out again during the hold-down');
  // Quarantined: the revocation still runs, so no hold-down can expire yet.
  clock += 3601_000;
  assert.equal(await h.ipam.sweep(), { deleted: 0, kept: 0 });
  await h.ipam.free(rel('dep', a));
  await h.ipam.free(rel('dep', a));
  assert.is(h.server.requests.filter((r) => r.method === 'PATCH').length, 2, 'free() starts the hold-down once');
  clock = Date.now(); // the hold-down counts from free()'s PATCH (NetBox's last_updated)
  // Deprecated but not ours: the sweep must leave it, whatever its age.
  const foreign = h.server.addPrefix({ prefix: '2001:db8:ff::/56', status: 'deprecated' });
  assert.equal(await h.ipam.sweep(), { deleted: 0, kept: 1 });
  clock += 3601_000;
  assert.equal(await h.ipam.sweep(), { deleted: 1, kept: 0 });
  assert.not.ok(h.server.table.rows.has(a.netboxPrefixId ?? 0));
  assert.ok(h.server.table.rows.has(foreign.id));
  await h.close();
});

const figures = suite('NetBox utilization');

figures('utilization(): capacity from the lengths; allocated counts every child in blocks, ours and others apart', async () => {
  const h = await startHarness({
    pools: (s) => {
      const vrf = s.addVrf('other', '65000:9');
      const parent = s.addPrefix({ prefix: '2001:db8::/40', status: 'active' });
      s.addPrefix({ prefix: '2001:db8:ff::/48' }); // 256 blocks of /56
      s.addPrefix({ prefix: '2001:db8:fe::/64' }); // spoils one /56
      s.addPrefix({ prefix: '2001:db8:fe:1::/64' }); // the same /56 again
      s.addPrefix({ prefix: '2001:db8:fd::/56', vrfId: vrf.id }); // another VRF: not a child of an active parent
      return [{ name: 'pd', prefixLength: 56, netbox: { parent_id: parent.id } }];
    },
  });
  for (let i = 0; i < 3; i++) await h.ipam.allocate(cmd(`u${i}`));
  const [u] = await h.ipam.utilization();
  assert.equal(u, { name: 'pd', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 260, heldDown: 0, ours: 3, others: 257 });
  assert.equal((await h.ipam.markedPrefixes()).map((x) => x.lifecycleId).sort(), ['lc-u0', 'lc-u1', 'lc-u2']);
  await h.close();
});

figures('utilization(): a global-table container counts children of every VRF, as NetBox allocates', async () => {
  const h = await startHarness({
    pools: (s) => {
      const vrf = s.addVrf('other', '65000:9');
      const parent = s.addPrefix({ prefix: '2001:db8::/62', status: 'container' });
      s.addPrefix({ prefix: '2001:db8::/64', vrfId: vrf.id });
      return [{ name: 'pd', prefixLength: 64, netbox: { parent_id: parent.id } }];
    },
  });
  const a = await h.ipam.allocate(cmd('g', { prefixLength: 64 }));
  assert.is(a.prefix, '2001:db8:0:1::/64');
  const [u] = await h.ipam.utilization();
  assert.equal([u?.capacity, u?.allocated, u?.ours, u?.others], [4, 2, 1, 1]);
  await h.close();
});

release.run();
hold.run();
figures.run();
