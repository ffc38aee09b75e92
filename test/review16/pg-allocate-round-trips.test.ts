// Issue 10/11: an allocation on PostgreSQL holds its pool's row lock for each of its round trips,
// and every instance's allocation of that pool waits for them all. Counted per allocate (a fresh key
// in a sticky pool with nothing expired, then the same key again) against a throw-away cluster,
// with what the allocations leave in the database checked too. Before: 11 and 5 statements.
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgEmbeddedIpam } from '../../services/ipam/embedded-pg.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { createPgPool, migrate } from '../../store/postgresql/pool.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { countStatements, type StatementLog } from '../support/pg-statements.ts';

/** BEGIN, the pool's lock, key + sticky lookup + expired hold-downs + free runs, carve + insert, COMMIT. */
const FRESH_AT_MOST = 5;
/** BEGIN, the lock, the lookup, COMMIT. */
const REPEAT_AT_MOST = 4;

const test = suite('review16 pg allocate round trips');
let cluster: PgCluster | undefined;
let db: pg.Pool;
let log: StatementLog;
let ipam: IpamPort;
const cmd = (i: number) => ({ key: `k${i}`, lifecycleId: `l${i}`, subscriberId: `s${i}`, pool: 'p', prefixLength: 56 });

test.before(async () => {
  if (!postgresAvailable('review16 pg allocate round trips')) return;
  cluster = await startPostgres();
  db = createPgPool({ url: await cluster.createDatabase('trips'), max: 2 });
  log = countStatements(db);
  await migrate(db);
  ipam = await createPgEmbeddedIpam(db, [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 600 }]);
});
test.after(async () => {
  await db?.end();
  await cluster?.stop();
});

test(`allocate(fresh key, sticky pool, nothing expired) sends at most ${FRESH_AT_MOST} statements, and the block leaves the free space`, async () => {
  if (!cluster) return;
  const got: string[] = [];
  for (let i = 0; i < 3; i++) {
    log.reset();
    got.push((await ipam.allocate(cmd(i))).prefix);
    assert.ok(log.sent.length <= FRESH_AT_MOST, `${log.sent.length} statements:\n${log.sent.join('\n')}`);
  }
  assert.equal(got, ['2001:db8::/56', '2001:db8:0:100::/56', '2001:db8:0:200::/56']);
  const free = await db.query('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 ORDER BY start_hex', ['p']);
  assert.equal(free.rows, [{ start_hex: '20010db8000003000000000000000000', end_hex: '20010db80000ffffffffffffffffffff' }]);
  const held = await db.query('SELECT key, prefix FROM ipam_allocations ORDER BY start_hex');
  assert.equal(held.rows, got.map((prefix, i) => ({ key: `k${i}`, prefix })));
});

test(`allocate(the same key again) sends at most ${REPEAT_AT_MOST} statements and answers the same block`, async () => {
  if (!cluster) return;
  const first = await ipam.allocate(cmd(1));
  log.reset();
  assert.equal(await ipam.allocate(cmd(1)), first);
  assert.ok(log.sent.length <= REPEAT_AT_MOST, `${log.sent.length} statements:\n${log.sent.join('\n')}`);
});

test('a sticky re-allocation and a block carved from the middle of a run keep the free space whole', async () => {
  if (!cluster) return;
  await ipam.release({ pool: 'p', prefix: '2001:db8:0:100::/56', lifecycleId: 'l1', subscriberId: 's1', netboxPrefixId: null });
  await ipam.free({ pool: 'p', prefix: '2001:db8:0:100::/56', lifecycleId: 'l1', subscriberId: 's1', netboxPrefixId: null });
  // The subscriber's own block back, by the sticky lookup folded into the key's.
  assert.is((await ipam.allocate({ ...cmd(9), subscriberId: 's1' })).prefix, '2001:db8:0:100::/56');
  // A /60 first: the next /56 is carved past it, the run before it shrunk, not deleted.
  assert.is((await ipam.allocate({ ...cmd(10), prefixLength: 60 })).prefix, '2001:db8:0:300::/60');
  assert.is((await ipam.allocate(cmd(11))).prefix, '2001:db8:0:400::/56');
  const free = await db.query('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 ORDER BY start_hex', ['p']);
  assert.equal(free.rows, [
    { start_hex: '20010db8000003100000000000000000', end_hex: '20010db8000003ffffffffffffffffff' },
    { start_hex: '20010db8000005000000000000000000', end_hex: '20010db80000ffffffffffffffffffff' },
  ]);
});

test.run();
