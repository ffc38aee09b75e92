// The embedded IPAM on PostgreSQL gives back a bounded batch of expired hold-downs per allocation
// too (under the pool's lock, which every instance waits on) and sweeps the rest apart. A full
// pool whose free space is only expired blocks still allocates; the figures hold; the sweep
// drains the rest without a clean-up run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import { ALLOCATION_GIVE_BACK, type EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review14 scale: bounded give-back on PostgreSQL');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

// 256 /56 in a /48: full once all are allocated.
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 60, sticky: false };
const cmd = (key: string) => ({ key, lifecycleId: `lc-${key}`, subscriberId: `sub-${key}`, pool: 'p', prefixLength: 56 });

test('every block expired in a full pool: the allocation gets the lowest, the sweep gives back the rest', async () => {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster = await startPostgres();
  const db = createPgPool({ url: await cluster.createDatabase('give_back'), max: 4 });
  try {
    await migrate(db);
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
    const ipam = await createPgEmbeddedIpam(db, [POOL], { now: () => clock.ms });
    const made = [];
    for (let i = 0; i < 256; i++) made.push(await ipam.allocate(cmd(`k${i}`)));
    for (const [i, m] of made.entries()) await ipam.free({ lifecycleId: `lc-k${i}`, subscriberId: `sub-k${i}`, pool: 'p', prefix: m.prefix, netboxPrefixId: null });
    clock.ms += 61_000;
    assert.ok(256 > ALLOCATION_GIVE_BACK);
    const got = await ipam.allocate(cmd('after'));
    assert.is(got.prefix, '2001:db8::/56');
    const left = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM ipam_quarantine')).rows[0]!.n);
    for (let i = 0; i < 200 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(await left(), 0, 'the sweep started by the allocation gave back the rest');
    const [u] = await ipam.utilization();
    assert.equal({ allocated: u!.allocated, heldDown: u!.heldDown }, { allocated: 1, heldDown: 0 });
    const runs = (await db.query<{ start_hex: string; end_hex: string }>('SELECT start_hex, end_hex FROM ipam_free ORDER BY start_hex')).rows;
    assert.equal(runs, [{ start_hex: '20010db8000001000000000000000000', end_hex: '20010db80000ffffffffffffffffffff' }], 'one maximal free run after the allocated block');
  } finally {
    await db.end();
  }
});

test.run();
