// Review 12: GET /lifecycle walked page by page on one of three instances sharing one PostgreSQL
// while the two others change lifecycles and create new ones (test/review12/paging-walk.ts says
// what is checked); then every instance's GET /metrics states against the list, and the audit
// trail of subscribers whose three lifecycles were driven through all three instances.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DATABASE_URL_ENV, instancesConfig } from '../support/instances-config.ts';
import { invariantDb } from '../support/instances-db.ts';
import { startFleet, type Fleet } from '../support/instances.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { churn, contended, cursorAcrossFilters, cursorPastDeleted, eventsAgree, FILTERS, POOLS, seed, snapshot, statesAgree, threeLifecycles, walk, type Call } from './paging-walk.ts';

const test = suite('review12: the list walked on one instance while two others write (PostgreSQL)');
let cluster: PgCluster | undefined;
let acs: GenieacsNbi | undefined;
let fleet: Fleet | undefined;
test.after(async () => {
  await fleet?.close();
  await acs?.close();
  await cluster?.stop();
});

test('GET /lifecycle on a (and on a, b, c in turn) while b and c write → untouched ones once each, none twice, filters exact, pages bounded; /metrics states = the list on a, b and c; trails across instances in order', async () => {
  if (!postgresAvailable('three instances on one PostgreSQL')) return;
  cluster = await startPostgres();
  acs = await startGenieacsNbi();
  const url = await cluster.createDatabase('paging');
  const acsUrl = acs.url;
  fleet = await startFleet({ count: 3, config: (dir) => ({ ...instancesConfig(dir, acsUrl), pools: POOLS }), env: { [DATABASE_URL_ENV]: url } });
  const calls: Call[] = fleet.instances.map((i) => (method, path, body) => i.call(method, path, body));
  const [onA, onB, onC] = calls as [Call, Call, Call];
  const stableIds = new Set(await seed(calls, 'stable', 48));
  const moving = await seed(calls, 'moving', 24);
  const before = await snapshot(onA);
  const stable = new Map([...before].filter(([, l]) => stableIds.has(l.subscriber_id)));
  const kept = [...stable.values()].filter((l) => l.state === 'active').map((l) => l.subscriber_id);
  const writers = churn([onB, onC], 'moving', moving, kept);
  let pages = 0;
  try {
    await Promise.all([threeLifecycles([onB, onC, onA], 'trail-a'), threeLifecycles([onC, onA, onB], 'trail-b')]);
    for (const f of FILTERS) for (const order of ['desc', 'asc'] as const) pages += await walk(onA, f, order, 5, stable);
    // A script behind a load balancer: each page from the next instance, the cursor handed on.
    let turn = 0;
    const rotating: Call = (method, path, body) => calls[turn++ % calls.length]!(method, path, body);
    for (const f of FILTERS.slice(0, 3)) pages += await walk(rotating, f, 'desc', 3, stable);
  } finally {
    const sent = await writers.stop();
    console.log(`  postgresql: ${pages} pages walked on a while ${sent} operations ran on b and c`);
    assert.ok(sent > 20, `only ${sent} operations ran during the walks`);
  }
  const after = await snapshot(onA);
  for (const [id, l] of stable) assert.equal({ state: after.get(id)?.state, pool: after.get(id)?.pool }, { state: l.state, pool: l.pool }, `${l.subscriber_id} was left alone`);
  for (const call of calls) await statesAgree(call);
  // Suspend, reactivate and update of one subscriber sent at once to a, b and c: one trail.
  await contended(calls, 'contended', 4);
  for (const call of calls) for (const id of ['trail-a', 'trail-b']) await eventsAgree(call, id, 3);
  for (const call of calls) await eventsAgree(call, 'contended', 1);
  for (const call of calls) await statesAgree(call);
  await cursorAcrossFilters(onA);
  const db = invariantDb(url);
  try {
    await cursorPastDeleted(onA, onB, async (id) => void (await db.pool.query(`UPDATE lifecycles SET revoked_at = '2020-01-01T00:00:00.000Z' WHERE id = $1`, [id])));
  } finally {
    await db.close();
  }
});

test.run();
