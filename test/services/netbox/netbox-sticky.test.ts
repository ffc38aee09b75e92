import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Allocation } from '../../../services/ipam/port.ts';
import type { NetboxConfigInput } from '../../../services/netbox/config.ts';
import type { NetboxPool } from '../../../services/netbox/netbox.ts';
import { asStep, cmd, startHarness, type Harness } from '../../support/netbox-harness.ts';

const HOLD_MS = 3600_000;
/** Harnesses of the running test: closed after it, passed or failed (an open server keeps the run alive). */
const open: Harness[] = [];

/** A whole revocation as the IPAM sees it: release (quarantine), then free at its end. */
async function revoke(h: Harness, id: string, a: Allocation, subscriberId = `sub-${id}`): Promise<void> {
  const c = { lifecycleId: `lc-${id}`, subscriberId, pool: 'pd', prefix: a.prefix, netboxPrefixId: a.netboxPrefixId };
  await h.ipam.release(c);
  await h.ipam.free(c);
}

/** A local NetBox on a clock the test moves; `pool` overrides the pool's hold-down and stickiness. */
async function clocked(opts: { parent?: string; pool?: Partial<NetboxPool>; config?: Partial<NetboxConfigInput>; mark?: 'custom_fields' | 'description' } = {}) {
  const clock = { t: Date.parse('2030-01-01T00:00:00.000Z') };
  const h = await startHarness({
    server: { now: () => clock.t, ...(opts.mark === 'description' ? { customFields: [] } : {}) },
    config: { release: { mode: 'deprecate', hold_down_s: HOLD_MS / 1000 }, ...opts.config },
    deps: { now: () => clock.t },
    pools: (s) => [{ name: 'pd', prefixLength: 56, netbox: { parent_id: s.addPrefix({ prefix: opts.parent ?? '2001:db8::/40', status: 'container' }).id }, ...opts.pool }],
  });
  open.push(h);
  return { h, clock };
}

const test = suite('NetBox owner affinity (pools[].sticky)');
test.after.each(async () => {
  for (const h of open.splice(0)) await h.close();
});

for (const mark of ['custom_fields', 'description'] as const) {
  test(`${mark} mark: a subscriber allocated again within the hold-down gets its prefix back, the same NetBox object, re-marked`, async () => {
    const { h, clock } = await clocked({ mark });
    const first = await h.ipam.allocate(cmd('a1', { subscriberId: 'sub-x' }));
    await h.ipam.allocate(cmd('other'));
    await revoke(h, 'a1', first, 'sub-x');
    clock.t += HOLD_MS - 1000;
    const again = await asStep(() => h.ipam.allocate(cmd('a2', { subscriberId: 'sub-x' })));
    assert.equal(again, first, 'same prefix, same NetBox id');
    const row = h.server.table.rows.get(first.netboxPrefixId ?? 0)!;
    assert.is(row.status, 'active');
    assert.is(row.comments, '');
    assert.ok(JSON.stringify([row.description, row.customFields]).includes('lc-a2'), 'marked for the new lifecycle');
    assert.equal(await h.ipam.allocatedUnder({ key: cmd('a2').key, lifecycleId: 'lc-a2', pool: 'pd' }), [first], 'found under the new key');
    assert.equal(await h.ipam.allocate(cmd('a2', { subscriberId: 'sub-x' })), first, 'a repeated step finds it by key');
    assert.is(h.server.created, 2, 'no allocation POST for the way back');
    assert.equal(await h.ipam.sweep(), { deleted: 0, kept: 0 }, 'active again: the sweep leaves it');
  });
}

for (const mark of ['custom_fields', 'description'] as const) {
  test(`${mark} mark: NetBox's search is a substring match; sub-1 never takes back the prefix of sub-10 or SUB-1`, async () => {
    const { h } = await clocked({ mark });
    const ten = await h.ipam.allocate(cmd('ten', { subscriberId: 'sub-10' }));
    const upper = await h.ipam.allocate(cmd('upper', { subscriberId: 'SUB-1' }));
    await revoke(h, 'ten', ten, 'sub-10');
    await revoke(h, 'upper', upper, 'SUB-1');
    const one = await h.ipam.allocate(cmd('one', { subscriberId: 'sub-1' }));
    assert.not.ok([ten.prefix, upper.prefix].includes(one.prefix), `sub-1 got ${one.prefix}`);
  });
}

test('another subscriber does not get a prefix in its hold-down, even when it is the only block left', async () => {
  // A /55 parent: two /56 blocks.
  const { h, clock } = await clocked({ parent: '2001:db8::/55' });
  const mine = await h.ipam.allocate(cmd('m', { subscriberId: 'sub-owner' }));
  const theirs = await h.ipam.allocate(cmd('t', { subscriberId: 'sub-y' }));
  await revoke(h, 'm', mine, 'sub-owner');
  const refused = await h.ipam.allocate(cmd('intruder', { subscriberId: 'sub-z' })).catch((e: { code?: string }) => e.code);
  assert.is(refused, 'pool_exhausted', 'the only free-looking block is held down for its owner');
  await revoke(h, 't', theirs, 'sub-y');
  clock.t += HOLD_MS - 1;
  assert.is((await h.ipam.allocate(cmd('t2', { subscriberId: 'sub-y' }))).prefix, theirs.prefix, 'each owner gets its own block back');
  assert.is((await h.ipam.allocate(cmd('m2', { subscriberId: 'sub-owner' }))).prefix, mine.prefix, 'not the other one');
});

test('sticky: false → the subscriber gets a fresh prefix; its old one keeps its hold-down', async () => {
  const { h } = await clocked({ pool: { sticky: false } });
  const first = await h.ipam.allocate(cmd('f1', { subscriberId: 'sub-f' }));
  await revoke(h, 'f1', first, 'sub-f');
  const again = await h.ipam.allocate(cmd('f2', { subscriberId: 'sub-f' }));
  assert.is.not(again.prefix, first.prefix);
  assert.is(h.server.table.rows.get(first.netboxPrefixId ?? 0)?.status, 'deprecated');
});

test('after the hold-down nobody gets it back by affinity, and once swept it is free for anyone', async () => {
  const { h, clock } = await clocked();
  const first = await h.ipam.allocate(cmd('e1', { subscriberId: 'sub-e' }));
  await revoke(h, 'e1', first, 'sub-e');
  clock.t += HOLD_MS;
  const owner = await h.ipam.allocate(cmd('e2', { subscriberId: 'sub-e' }));
  assert.is.not(owner.prefix, first.prefix, 'expired: no way back, even for its owner');
  assert.equal(await h.ipam.sweep(), { deleted: 1, kept: 0 });
  const anyone = await h.ipam.allocate(cmd('e3', { subscriberId: 'sub-new' }));
  assert.is(anyone.prefix, first.prefix, 'first fit hands the swept block to anyone');
});

test('delete mode with a pool hold-down: sticky too; hold-down 0 (delete mode default) is never sticky', async () => {
  const { h, clock } = await clocked({ config: { release: { mode: 'delete' } }, pool: { holdDownS: 600 } });
  const first = await h.ipam.allocate(cmd('d1', { subscriberId: 'sub-d' }));
  await revoke(h, 'd1', first, 'sub-d');
  clock.t += 599_000;
  assert.equal(await h.ipam.allocate(cmd('d2', { subscriberId: 'sub-d' })), first);

  const zero = await clocked({ config: { release: { mode: 'delete' } } });
  const z1 = await zero.h.ipam.allocate(cmd('z1', { subscriberId: 'sub-0' }));
  await zero.h.ipam.allocate(cmd('z-other'));
  await revoke(zero.h, 'z1', z1, 'sub-0');
  assert.not.ok(zero.h.server.table.rows.has(z1.netboxPrefixId ?? 0), 'deleted at the end of the revocation');
  const z2 = await zero.h.ipam.allocate(cmd('z2', { subscriberId: 'sub-0' }));
  assert.is(z2.prefix, z1.prefix, 'first fit, not affinity');
  assert.is.not(z2.netboxPrefixId, z1.netboxPrefixId, 'a new NetBox object');
});

test.run();
