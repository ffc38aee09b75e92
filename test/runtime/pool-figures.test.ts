import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPoolFigures } from '../../runtime/pool-figures.ts';
import type { PoolUtilization } from '../../services/ipam/port.ts';

const test = suite('runtime pool figures (the pool gauges\' readings of IPAM)');
const POOL: PoolUtilization = { name: 'p', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function ipam(tookMs: number) {
  let reads = 0;
  return {
    reads: () => reads,
    port: { utilization: async () => (reads++, await sleep(tookMs), [{ ...POOL, allocated: reads }]) },
  };
}

test('a quick reading (the embedded IPAM) serves one second, and a transition makes the next scrape read again', async () => {
  const i = ipam(0);
  const f = createPoolFigures(i.port);
  assert.is((await f.pools())![0]!.allocated, 1);
  assert.is((await f.pools())![0]!.allocated, 1, 'within the second: the same reading');
  f.stale();
  assert.is((await f.pools())![0]!.allocated, 2, 'after a transition: a new one');
  assert.is(i.reads(), 2);
});

test('a slow reading (a NetBox walk) serves four times as long as it took, transitions or not', async () => {
  const i = ipam(300);
  const f = createPoolFigures(i.port);
  assert.is((await f.pools())![0]!.allocated, 1);
  for (let k = 0; k < 5; k++) {
    f.stale();
    await sleep(150);
    assert.is((await f.pools())![0]!.allocated, 1, `scrape ${k}: not read again`);
  }
  await sleep(500);
  f.stale();
  assert.is((await f.pools())![0]!.allocated, 2, 'past 4 × 300 ms: read again');
  assert.is(i.reads(), 2);
});

test('concurrent scrapes share one reading', async () => {
  const i = ipam(50);
  const f = createPoolFigures(i.port);
  await Promise.all([f.pools(), f.pools(), f.pools()]);
  assert.is(i.reads(), 1);
});

test.run();
