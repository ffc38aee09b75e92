// Review 10 (review of a8ff1ea), through compose on PostgreSQL: two instances on one database. The
// leader's leak check stores its figure; a restarted instance reports it at its first scrape, and
// the follower's GET /metrics summary reports the leader's latest check, not the first figure it
// read (it read the stored figure once, so a leak the leader's next check no longer found stayed 1).
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { startService, type Service } from '../review7/support.ts';

const title = 'review10: the stored leak figure through compose on PostgreSQL, two instances';
const test = suite(title);
let cluster: PgCluster | null = null;
const gauge = (text: string) => Number(/^ipv6_lifecycle_leaked_prefixes (\S+)$/m.exec(text)?.[1]);

test.after(async () => cluster?.stop());

test('the leader checks twice; a restart and the follower report the latest figure', async () => {
  if (!postgresAvailable(title)) return;
  cluster = await startPostgres();
  const url = await cluster.createDatabase('r10_leaks');
  const config = () => ({
    store: { backend: 'postgresql' as const, url_env: 'R10_STORE_URL', pool_max: 4, leader_interval_ms: 100 },
    pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
  });
  const env = { R10_STORE_URL: url };
  const sql = new pg.Client({ connectionString: url });
  await sql.connect();
  const services: Service[] = [];
  try {
    const leader = await startService(config, { env });
    services.push(leader);
    for (let i = 0; i < 5; i++) assert.is((await leader.post('allocate', { subscriber_id: `s-${i}` })).status, 201);
    // IPAM still holds s-0's prefix, and no lifecycle holds it: a leak.
    await sql.query("DELETE FROM lifecycles WHERE subscriber_id = 's-0'");
    assert.is((await leader.post('jobs/leaks', {})).status, 200);
    assert.is(gauge((await leader.get('/metrics')).text), 1, 'the leader found it');

    const follower = await startService(config, { env });
    services.push(follower);
    assert.is((await follower.get('metrics')).body.leaks, 1, 'the follower reports the stored figure');

    // The leaked block is given back behind the service's back: the next check finds no leak.
    await sql.query("DELETE FROM ipam_allocations WHERE subscriber_id = 's-0'");
    assert.is((await leader.post('jobs/leaks', {})).status, 200);
    assert.is(gauge((await leader.get('/metrics')).text), 0);
    assert.is((await follower.get('metrics')).body.leaks, 0, 'the follower reports the latest check, not the first figure it read');

    await leader.close();
    services.shift();
    const again = await startService(config, { env });
    services.push(again);
    assert.is((await again.get('metrics')).body.leaks, 0, 'a restarted instance reports the stored figure');
  } finally {
    await sql.end();
    for (const s of services) await s.close();
  }
});

test.run();
