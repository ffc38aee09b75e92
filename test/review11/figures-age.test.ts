// Review 11: a scrape shows the last reading of the pools from IPAM when a new one takes longer than
// IPAM_READ_MS, and ipv6_ipam_up stays 1 while NetBox is only slow. Nothing said how old the figures
// shown were, so pool alerts could act on figures of an hour ago. ipv6_pool_figures_age_seconds: the
// seconds since the reading shown began (its oldest figure), beside the pool series and only with
// them: left out when no figures are shown (a failed reading, the first one still going on, a follower).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { IPAM_READ_MS } from '../../runtime/pool-figures.ts';
import type { PoolUtilization } from '../../services/ipam/port.ts';
import { scrapeOver } from '../support/metrics-rig.ts';

const test = suite('review11: ipv6_pool_figures_age_seconds says how old the pool figures shown are');
const POOLS: PoolUtilization[] = [{ name: 'residential', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 12 }];
const AGE = 'ipv6_pool_figures_age_seconds';

const setup = scrapeOver;
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
const age = (text: string): number | null => {
  const lines = samples(text, AGE);
  assert.ok(lines.length <= 1, lines.join('\n'));
  return lines[0] === undefined ? null : Number(lines[0].split(' ')[1]);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a fresh reading: the age is about 0, with HELP and TYPE gauge', async () => {
  const scrape = setup(async () => POOLS);
  const text = await scrape();
  assert.match(text, new RegExp(`^# HELP ${AGE} \\S.*$`, 'm'));
  assert.match(text, new RegExp(`^# TYPE ${AGE} gauge$`, 'm'));
  const a = age(text);
  assert.ok(a !== null && a >= 0 && a < 0.5, `age ${a}`);
});

test('a slow IPAM (each reading longer than the scrape waits): the last figures shown, their age growing scrape after scrape', async () => {
  let calls = 0;
  const scrape = setup(() => (++calls === 1 ? Promise.resolve(POOLS) : new Promise<PoolUtilization[]>(() => undefined)));
  const first = age(await scrape());
  assert.ok(first !== null && first < 0.5, `first ${first}`);
  await sleep(1100); // past the second a quick reading serves
  const t0 = Date.now();
  const second = await scrape();
  assert.ok(Date.now() - t0 >= IPAM_READ_MS - 50, 'the scrape waited for the new reading');
  assert.equal(samples(second, 'ipv6_ipam_up'), ['ipv6_ipam_up 1'], 'NetBox is slow, not down');
  assert.equal(samples(second, 'ipv6_pool_capacity_prefixes'), ['ipv6_pool_capacity_prefixes{pool="residential"} 65536'], 'the last reading');
  const a2 = age(second)!;
  assert.ok(a2 >= (1100 + IPAM_READ_MS - 100) / 1000, `age ${a2} after a second and a scrape's wait`);
  const a3 = age(await scrape())!;
  assert.ok(a3 >= a2 + (IPAM_READ_MS - 100) / 1000, `age ${a3} grew from ${a2}`);
  assert.is(calls, 2, 'one reading going on, not one per scrape');
});

test('the age counts from when the reading shown began: a walk of 1.5 s shows figures 1.5 s old', async () => {
  const scrape = setup(() => sleep(1500).then(() => POOLS));
  const a = age(await scrape());
  assert.ok(a !== null && a >= 1.45 && a < 2.5, `age ${a}`);
});

test('a failed reading: no figures shown, so no age (with the pool series left out); the next success is fresh again', async () => {
  let down = false;
  const scrape = setup(() => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve(POOLS)));
  assert.ok(age(await scrape()) !== null);
  down = true;
  await sleep(1100);
  const failed = await scrape();
  assert.equal(samples(failed, 'ipv6_ipam_up'), ['ipv6_ipam_up 0']);
  assert.equal(samples(failed, 'ipv6_pool_capacity_prefixes'), []);
  assert.is(age(failed), null, 'the age of figures not shown would be read as theirs');
  assert.match(failed, new RegExp(`^# TYPE ${AGE} gauge$`, 'm'), 'still declared');
  down = false;
  await sleep(1100);
  const back = age(await scrape());
  assert.ok(back !== null && back < 0.5, `age ${back}`);
});

test('the first reading still going on: no figures yet, no age', async () => {
  const scrape = setup(() => new Promise<PoolUtilization[]>(() => undefined));
  const text = await scrape();
  assert.equal(samples(text, 'ipv6_ipam_up'), ['ipv6_ipam_up 1']);
  assert.is(age(text), null);
});

test('a follower shows no pool figures and no age; the leader does', async () => {
  let leads = false;
  let calls = 0;
  const scrape = setup(async () => (calls++, POOLS), () => leads);
  assert.is(age(await scrape()), null);
  assert.is(calls, 0, 'a follower does not read the pools');
  leads = true;
  assert.ok(age(await scrape()) !== null);
  leads = false;
  assert.is(age(await scrape()), null, 'stepping down drops it');
});

test.run();
