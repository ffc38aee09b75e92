// 661aabf: an allocation gives back at most ALLOCATION_GIVE_BACK expired hold-downs, then first
// fit. On SQLite the batch is the lowest addresses (ORDER BY start_hex), so first fit still finds
// the lowest free block; on PostgreSQL `takeExpired` had `LIMIT` without `ORDER BY`, so the batch
// was whichever rows the plan met first (by reusable_at on its index, or heap order), and the
// allocation took a higher block than first fit over all free space gives (and than SQLite gives).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import { ALLOCATION_GIVE_BACK, type EmbeddedPool } from '../../services/ipam/pool-rules.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review14: PostgreSQL gives back the lowest expired hold-downs first');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

// 256 /56 in a /48: full once all are allocated, so only expired blocks can be given.
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 60, sticky: false };
const cmd = (key: string) => ({ key, lifecycleId: `lc-${key}`, subscriberId: `sub-${key}`, pool: 'p', prefixLength: 56 });

test('blocks freed highest first: the allocation after their hold-down still gets the lowest', async () => {
  if (!postgresAvailable('the embedded IPAM on PostgreSQL')) return;
  cluster = await startPostgres();
  const db = createPgPool({ url: await cluster.createDatabase('give_back_order'), max: 4 });
  try {
    await migrate(db);
    const clock = { ms: Date.parse('2030-01-01T00:00:00.000Z') };
    const ipam = await createPgEmbeddedIpam(db, [POOL], { now: () => clock.ms });
    const made = [];
    for (let i = 0; i < 256; i++) made.push(await ipam.allocate(cmd(`k${i}`)));
    assert.ok(256 > ALLOCATION_GIVE_BACK);
    // Freed from the highest address down: the lowest block's hold-down ends last.
    for (let i = 255; i >= 0; i--) {
      clock.ms += 1;
      await ipam.free({ lifecycleId: `lc-k${i}`, subscriberId: `sub-k${i}`, pool: 'p', prefix: made[i]!.prefix, netboxPrefixId: null });
    }
    clock.ms += 61_000;
    const got = await ipam.allocate(cmd('after'));
    assert.is(got.prefix, '2001:db8::/56', 'first fit over every block whose hold-down has passed');
    // Let the sweep the allocation started finish before the pool ends.
    const left = async () => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM ipam_quarantine')).rows[0]!.n);
    for (let i = 0; i < 200 && (await left()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(await left(), 0);
  } finally {
    await db.end();
  }
});

test.run();
