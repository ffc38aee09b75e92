// Review 10 (review of 9a366a5): ipv6_ipam_up says whether the last reading of the pools from IPAM
// succeeded. A process whose first reading takes longer than a scrape waits (a NetBox pool of many
// prefixes, right after a restart) had no last reading to show, and reported ipv6_ipam_up 0, "NetBox
// unreachable or refusing", while NetBox answered. Before any reading has ended, nothing failed: 1,
// with the pool series left out until the first reading is in; 0 only once one failed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { PoolUtilization } from '../../services/ipam/port.ts';
import { scrapeOver } from '../support/metrics-rig.ts';

const test = suite('review10: a first reading of IPAM slower than a scrape is not reported as IPAM down');
const POOLS: PoolUtilization[] = [{ name: 'residential', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 12 }];

const setup = scrapeOver;
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

test('the first reading still going on past the scrape wait: ipv6_ipam_up 1, no pool series; once in, the pools', async () => {
  let answer!: (p: PoolUtilization[]) => void;
  const scrape = setup(() => new Promise((r) => (answer = r)));
  const first = await scrape();
  assert.equal(samples(first, 'ipv6_ipam_up'), ['ipv6_ipam_up 1'], 'nothing failed: NetBox is only slow');
  assert.equal(samples(first, 'ipv6_pool_capacity_prefixes'), []);
  answer(POOLS);
  await new Promise((r) => setTimeout(r, 10));
  const next = await scrape();
  assert.equal(samples(next, 'ipv6_pool_capacity_prefixes'), ['ipv6_pool_capacity_prefixes{pool="residential"} 65536']);
  assert.equal(samples(next, 'ipv6_ipam_up'), ['ipv6_ipam_up 1']);
});

test('a reading that failed: 0, and a slow one after it stays 0 until it succeeds', async () => {
  let calls = 0;
  let answer!: (p: PoolUtilization[]) => void;
  const scrape = setup(() => (++calls === 1 ? Promise.reject(new Error('connect ECONNREFUSED')) : new Promise((r) => (answer = r))));
  assert.equal(samples(await scrape(), 'ipv6_ipam_up'), ['ipv6_ipam_up 0']);
  assert.equal(samples(await scrape(), 'ipv6_ipam_up'), ['ipv6_ipam_up 0'], 'still not read since it failed');
  answer(POOLS);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(samples(await scrape(), 'ipv6_ipam_up'), ['ipv6_ipam_up 1']);
});

test.run();
