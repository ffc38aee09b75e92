// The leak check reads IPAM and the lifecycles at different moments while requests go on. A
// lifecycle allocated or revoked between the two reads must not be reported (it was a false
// "IPAM does not hold it" warning on PostgreSQL under traffic); a real discrepancy still is.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInventory, type Discrepancy } from '../../runtime/inventory.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('runtime leak check confirms what it finds');
const POOL = { name: 'residential', prefix: '2001:db8::/40', prefixLength: 56 };

async function setup() {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const fake = createFakeIpam([POOL]);
  const allocate = (id: string) => fake.allocate({ key: `${id}:allocate:0`, lifecycleId: id, subscriberId: `sub-${id}`, pool: POOL.name, prefixLength: 56 });
  const save = (row: ReturnType<typeof lifecycleRow>) => store.saveBatch([{ row, audit: auditEntry(row, 'CREATED') }]);
  // What runs just after a walk has read IPAM and before it reads the lifecycles: the race.
  const between: Array<() => Promise<void>> = [];
  let walks = 0;
  const ipam: IpamPort = Object.assign(Object.create(fake) as IpamPort, {
    markedPages: undefined,
    markedPrefixes: async () => {
      const marked = await fake.markedPrefixes();
      walks++;
      await between.shift()?.();
      return marked;
    },
  });
  const checked: Discrepancy[][] = [];
  const inventory = createInventory({ store: asyncOf(store), ipam, onChecked: (found) => void checked.push(found) });
  return { db, store, fake, allocate, save, between, inventory, checked, walks: () => walks };
}

const kinds = (found: Discrepancy[]) => found.map((d) => [d.kind, d.lifecycle_id]);

test('a lifecycle allocated between the walk of IPAM and the walk of the lifecycles is not found lost', async () => {
  const t = await setup();
  t.between.push(async () => {
    const got = await t.allocate('late');
    t.save(lifecycleRow({ id: 'late', state: 'allocated', prefix: got.prefix }));
  });
  const found = await t.inventory.discrepancies();
  assert.equal(kinds(found), []);
  assert.equal(t.checked.map(kinds), [[]], 'the leak counter is handed the confirmed findings');
  assert.is(t.walks(), 2, 'the first walk saw it lost; a second one did not');
  assert.equal(kinds(await t.inventory.discrepancies()), []);
  assert.is(t.walks(), 3, 'a clean check walks once');
  t.db.close();
});

test('a lifecycle revoked (its prefix given back) between the two reads is not found leaked', async () => {
  const t = await setup();
  const got = await t.allocate('going');
  const row = lifecycleRow({ id: 'going', state: 'active', prefix: got.prefix });
  t.save(row);
  t.between.push(async () => {
    await t.fake.free({ lifecycleId: 'going', subscriberId: 'sub-going', pool: POOL.name, prefix: got.prefix, netboxPrefixId: null });
    t.save({ ...row, state: 'revoked', revoked_at: new Date().toISOString() });
  });
  assert.equal(kinds(await t.inventory.discrepancies()), []);
  assert.is(t.walks(), 2);
  t.db.close();
});

test('a real leak and a real loss are found by both walks and reported, with a race beside them dropped', async () => {
  const t = await setup();
  const leaked = await t.allocate('gone');
  t.save(lifecycleRow({ id: 'gone', state: 'revoked', revoked_at: '2026-03-01T00:00:00.000Z', prefix: leaked.prefix }));
  t.save(lifecycleRow({ id: 'lost', state: 'active', prefix: '2001:db8:ff00::/56' }));
  t.between.push(async () => {
    const got = await t.allocate('late');
    t.save(lifecycleRow({ id: 'late', state: 'active', prefix: got.prefix }));
  });
  const found = await t.inventory.discrepancies();
  assert.equal(kinds(found), [['leaked', 'gone'], ['lost', 'lost']]);
  assert.equal(t.checked.map(kinds), [[['leaked', 'gone'], ['lost', 'lost']]]);
  t.db.close();
});

test.run();
