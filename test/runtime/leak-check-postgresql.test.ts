// The leak check and the leak counter on the PostgreSQL store (issue 11): the same modules compose.ts
// wires over SQLite, here over openPostgresStore's port, against a throw-away cluster.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createInventory } from '../../runtime/inventory.ts';
import { createLeakCounter } from '../../runtime/leak-counter.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import { openPostgresStore } from '../../store/postgresql/store.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('runtime leak check on PostgreSQL');
let cluster: PgCluster | null = null;
test.after(async () => void (await cluster?.stop()));

const REVOKED_AT = '2026-03-01T00:00:00.000Z';
const HOUR = 3_600_000;

test('a prefix IPAM marks for a revoked lifecycle is found leaked, a live one IPAM lost is found lost, and the leak counts once', async () => {
  if (!postgresAvailable('the leak check on PostgreSQL')) return;
  cluster = await startPostgres();
  const store = await openPostgresStore({ url: await cluster.createDatabase('leak_check'), max: 4 });
  try {
    const ipam = createFakeIpam([{ name: 'residential', prefix: '2001:db8::/40', prefixLength: 56 }]);
    const leaked = await ipam.allocate({ key: 'gone:allocate:0', lifecycleId: 'gone', subscriberId: 'sub-gone', pool: 'residential', prefixLength: 56 });
    const held = await ipam.allocate({ key: 'kept:allocate:0', lifecycleId: 'kept', subscriberId: 'sub-kept', pool: 'residential', prefixLength: 56 });
    const rows = [
      lifecycleRow({ id: 'gone', state: 'revoked', revoked_at: REVOKED_AT, prefix: leaked.prefix }),
      lifecycleRow({ id: 'kept', state: 'active', prefix: held.prefix }),
      // IPAM holds nothing for it: lost.
      lifecycleRow({ id: 'lost', state: 'active', prefix: '2001:db8:ff00::/56' }),
    ];
    await store.lifecycles.saveBatch(rows.map((row) => ({ row, audit: auditEntry(row, 'CREATED') })));

    let now = Date.parse(REVOKED_AT) + 23 * HOUR;
    const counter = createLeakCounter({ counts: store.counts, store: store.lifecycles, leakAfterS: 86_400, now: () => now });
    const counted: number[] = [];
    const lastCheck = { read: () => store.counts.lastLeakCheck(), save: (c: { leaked: number; at: number }) => store.counts.saveLeakCheck(c) };
    const inventory = createInventory({ store: store.lifecycles, ipam, lastCheck, onChecked: async (found) => void counted.push(await counter.record(found)) });

    const found = await inventory.discrepancies();
    assert.equal(
      found.map((d) => [d.kind, d.lifecycle_id, d.prefix]),
      [
        ['leaked', 'gone', leaked.prefix],
        ['lost', 'lost', '2001:db8:ff00::/56'],
      ],
    );
    assert.equal(counted, [0], 'within leak_after_s of revoked_at: not yet counted');
    now += 2 * HOUR;
    await inventory.discrepancies();
    await inventory.discrepancies();
    assert.equal(counted, [0, 1, 0], 'counted once, past leak_after_s, and not again');
    assert.is(await store.counts.leaksCounted(), 1);
    assert.ok((await store.counts.leak('gone', leaked.prefix))?.counted_at);
    const summary = await inventory.summary();
    assert.equal([summary.states.active, summary.states.revoked, summary.leaks], [2, 1, 1]);
    // Another process on the same database (a restart, another instance) reports the stored figure without a walk.
    assert.equal(await store.counts.lastLeakCheck().then((c) => c?.leaked), 1);
    let walked = 0;
    const later = createInventory({ store: { ...store.lifecycles, heldPage: (...a) => (walked++, store.lifecycles.heldPage(...a)) }, ipam, lastCheck });
    assert.is(await later.leaks(Number.POSITIVE_INFINITY), 1);
    assert.is(walked, 0, 'no page of held lifecycles was read');
  } finally {
    await store.close();
  }
});

test.run();
