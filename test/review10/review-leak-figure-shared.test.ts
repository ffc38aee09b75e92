// Review 10 (review of a8ff1ea): the last leak check's figure is stored so that a new process reports
// it, but an inventory read the store only once, on its first reader. Another instance on the same
// database (a follower answering GET /metrics, the next leader) or the same database after the
// leader's next check kept reporting the figure it read first, however many checks ran since: a
// leak reclaimed by the leader's check stayed "1 leaked" on the follower's summary for good, a
// stale figure reported as the current one. Each reader now takes the stored figure when it is
// newer than its own (two rows: no walk).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInventory } from '../../runtime/inventory.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { createMetricCounts } from '../../store/counts.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review10: an instance reports the last stored leak check, not the first it read');
const POOL = { name: 'residential', prefix: '2001:db8::/40', prefixLength: 56 };

test('the leader checks twice; the other instance reports the second figure, without walking', async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const counts = createMetricCounts(db);
  const fake = createFakeIpam([POOL]);
  const lastCheck = { read: async () => counts.lastLeakCheck(), save: async (c: { leaked: number; at: number }) => counts.saveLeakCheck(c) };
  let followerWalks = 0;
  const ipamOf = (count: boolean): IpamPort =>
    Object.assign(Object.create(fake) as IpamPort, {
      markedPages: undefined,
      markedPrefixes: async () => (count && followerWalks++, fake.markedPrefixes()),
    });
  const leader = createInventory({ store: asyncOf(store), ipam: ipamOf(false), lastCheck });
  const follower = createInventory({ store: asyncOf(store), ipam: ipamOf(true), lastCheck });

  // IPAM holds a prefix for a lifecycle nobody has: a leak.
  const got = await fake.allocate({ key: 'gone:allocate:0', lifecycleId: 'gone', subscriberId: 'sub-gone', pool: POOL.name, prefixLength: 56 });
  await leader.discrepancies();
  assert.is(await follower.leaks(Number.POSITIVE_INFINITY), 1, 'the stored figure of the first check');
  assert.is((await follower.summary()).leaks, 1);

  // The lifecycle is there after all (a restored row): the leader's next check finds no leak.
  const row = lifecycleRow({ id: 'gone', state: 'allocated', prefix: got.prefix });
  store.saveBatch([{ row, audit: auditEntry(row, 'CREATED') }]);
  await new Promise((r) => setTimeout(r, 2));
  assert.equal(await leader.discrepancies(), []);
  assert.equal(counts.lastLeakCheck()?.leaked, 0, 'the leader stored 0');

  assert.is(await follower.leaks(Number.POSITIVE_INFINITY), 0, 'the follower reports the last check, not the first it read');
  assert.is((await follower.summary()).leaks, 0);
  assert.is(followerWalks, 0, 'the follower never walked');
  db.close();
});

test.run();
