// Every GET /api/v1/network/ipv6/metrics read IPAM's utilization anew: against NetBox that is a walk
// of every pool's prefixes, 36 s and 201 list requests at 200,000 held (netboxscale review), on each
// dashboard poll. The summary now shares the gauges' reading (runtime/pool-figures.ts): a slow IPAM
// is read once for both while the reading is fresh; a fast one (the embedded IPAM's counts) is
// still read on every call, so a transition shows at once.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInventory } from '../../runtime/inventory.ts';
import { createPoolFigures } from '../../runtime/pool-figures.ts';
import type { IpamPort, PoolUtilization } from '../../services/ipam/port.ts';

const test = suite('review15 netboxscale: the API summary shares the pools reading');

function countingIpam(delayMs: number) {
  const state = { calls: 0, allocated: 10 };
  const ipam = {
    async utilization(): Promise<PoolUtilization[]> {
      state.calls++;
      const allocated = state.allocated;
      await new Promise((r) => setTimeout(r, delayMs));
      return [{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65_536, allocated }];
    },
  } as unknown as IpamPort;
  return { ipam, state };
}

const store = { countByState: async () => ({ allocated: 1 }) } as never;

function inventoryOver(ipam: IpamPort) {
  const figures = createPoolFigures(ipam);
  return { figures, inventory: createInventory({ store, ipam, figures, lastCheck: { read: async () => ({ at: Date.now(), leaked: 0 }), save: async () => undefined } as never }) };
}

test('a slow IPAM (a NetBox walk) is read once for summaries polled while its reading is fresh, and for the scrape beside them', async () => {
  const { ipam, state } = countingIpam(300);
  const { figures, inventory } = inventoryOver(ipam);
  const first = await inventory.summary();
  assert.is(first.pools[0]!.allocated, 10);
  const t0 = Date.now();
  for (let i = 0; i < 5; i++) assert.is((await inventory.summary()).pools[0]!.allocated, 10);
  assert.ok(Date.now() - t0 < 250, `the polls waited ${Date.now() - t0} ms`);
  assert.is((await figures.pools())![0]!.allocated, 10);
  assert.is(state.calls, 1, 'one walk for six summaries and a scrape');
});

test('a fast IPAM (the embedded counts) is read on every summary: a change shows at once', async () => {
  const { ipam, state } = countingIpam(0);
  const { inventory } = inventoryOver(ipam);
  assert.is((await inventory.summary()).pools[0]!.allocated, 10);
  state.allocated = 11;
  assert.is((await inventory.summary()).pools[0]!.allocated, 11);
  state.allocated = 12;
  assert.is((await inventory.summary()).pools[0]!.allocated, 12);
  assert.is(state.calls, 3);
});

test.run();
