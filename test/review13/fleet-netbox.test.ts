// Review 13, three instances on one PostgreSQL with a NetBox pool (NetBox is the shared truth):
// allocations of one subscriber raced over the instances, and the instance running allocations
// SIGKILLed while NetBox is slow. After each: one prefix per subscriber in NetBox, none left over.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { DATABASE_URL_ENV, LEASE_MS } from '../support/instances-config.ts';
import { eventually, sleep, startFleet, type Fleet } from '../support/instances.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review13: three instances with a NetBox pool');
let cluster: PgCluster | null = null;
let netbox: NetboxServer;
let fleet: Fleet;
let parentId = 0;

test.before(async () => {
  if (!postgresAvailable('three instances with a NetBox pool')) return;
  cluster = await startPostgres({ synchronous_commit: 'on' });
  netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  parentId = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' }).id;
  const url = await cluster.createDatabase('fleetnb');
  fleet = await startFleet({
    count: 3,
    config: (dir) => ({
      database: `${dir}/unused.sqlite`,
      store: { backend: 'postgresql', url_env: DATABASE_URL_ENV, pool_max: 5, lease_ms: LEASE_MS },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parentId } }],
      netbox: { url: netbox.url },
      retry: { attempts: 6, base_ms: 20, max_ms: 200 },
      log: { level: 'warn' },
    }),
    env: { [DATABASE_URL_ENV]: url, NETBOX_TOKEN: V1_TOKEN },
  });
});

test.after(async () => {
  await fleet?.close();
  await netbox?.close();
  await cluster?.stop();
});

const on = (i: number) => fleet.instances[i % 3]!;
const children = () => netbox.prefixes().filter((p) => p.id !== parentId).map((p) => p.prefix).sort();
async function livePrefixes(subs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const s of subs) {
    const g = await on(2).call('GET', `lifecycle/${s}`);
    if (g.body?.prefix && g.body.state !== 'revoked') out.push(g.body.prefix);
  }
  return out.sort();
}

test('each subscriber allocated on all three instances at once → one 201, two 200 with its prefix; NetBox holds one prefix per subscriber', async () => {
  if (!cluster) return;
  netbox.allocationMs = 30;
  const subs = Array.from({ length: 20 }, (_, i) => `nb-race-${i}`);
  const bad: string[] = [];
  await Promise.all(subs.map(async (s) => {
    const got = await Promise.all([0, 1, 2].map((i) => on(i).call('POST', 'allocate?wait=30000', { subscriber_id: s })));
    const statuses = got.map((g) => g.status).sort();
    const prefixes = new Set(got.map((g) => g.body?.prefix));
    if (JSON.stringify(statuses) !== '[200,200,201]' || prefixes.size !== 1) bad.push(`${s}: ${JSON.stringify(got.map((g) => [g.status, g.body?.prefix ?? g.body?.error]))}`);
  }));
  netbox.allocationMs = 0;
  assert.equal(bad, [], fleet.warnings());
  const live = await livePrefixes(subs);
  assert.is(new Set(live).size, subs.length);
  assert.equal(children(), live, 'NetBox holds exactly the lifecycles\' prefixes');
});

test('the instance running allocations SIGKILLed while NetBox is slow → the others finish them; after the leak check NetBox holds one prefix per subscriber', async () => {
  if (!cluster) return;
  netbox.allocationMs = 150;
  const subs = Array.from({ length: 10 }, (_, i) => `nb-kill-${i}`);
  const sent = subs.map((s) => on(0).call('POST', 'allocate?wait=0', { subscriber_id: s }).catch((e: Error) => ({ status: 0, body: String(e) })));
  await sleep(400);
  await on(0).kill();
  await Promise.all(sent);
  netbox.allocationMs = 0;
  await eventually('every allocation finished by the others', LEASE_MS * 6 + 20_000, async () => {
    for (const s of subs) {
      const g = await on(1).call('GET', `lifecycle/${s}`);
      if (g.status === 404) continue; // never accepted before the kill
      if (g.body?.state !== 'allocated') return undefined;
    }
    return true;
  });
  await netbox.allocationsDone();
  const leaks = await on(1).call('POST', 'jobs/leaks', {});
  assert.is(leaks.status, 200, JSON.stringify(leaks.body));
  const all = [...(await livePrefixes(Array.from({ length: 20 }, (_, i) => `nb-race-${i}`))), ...(await livePrefixes(subs))].sort();
  assert.is(new Set(all).size, all.length, 'no prefix given to two subscribers');
  assert.equal(children(), all, `NetBox holds exactly the lifecycles' prefixes; leaks: ${JSON.stringify(leaks.body)}\n${fleet.warnings()}`);
  await on(0).start();
});

test.run();
