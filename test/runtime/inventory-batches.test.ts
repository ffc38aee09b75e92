// The leak check and the clean-up give the event loop back while they walk: work of one check is
// spread over many macrotasks, so requests (and /healthz) are served between its pages.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { createCleanup } from '../../runtime/cleanup.ts';
import { createInventory } from '../../runtime/inventory.ts';
import type { LifecycleService } from '../../runtime/lifecycle-service.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import { openDatabase } from '../../store/db.ts';
import { createHeldScratch } from '../../store/held-scratch.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { turnsDuring } from '../support/event-loop.ts';

const test = suite('runtime leak check in batches');
const HELD = 5000;

function setup() {
  const db = openDatabase(':memory:');
  const embedded = fillHeld(db, HELD);
  const store = createLifecycleStore(db);
  const ipam = createIpamRouter(new Map([[SCAN_POOL.name, embedded]]));
  const inventory = createInventory({ store: asyncOf(store), ipam, seen: createHeldScratch(db) });
  return { db, store, ipam, inventory };
}

test('a leak check over 5000 holdings runs in several macrotasks and finds each discrepancy', async () => {
  const { db, store, inventory } = setup();
  const row = store.get('lc-00000042')!;
  store.save({ ...row, state: 'revoked', revoked_at: new Date().toISOString() }, null);
  let found: Awaited<ReturnType<typeof inventory.discrepancies>> = [];
  const turns = await turnsDuring(async () => (found = await inventory.discrepancies()));
  assert.ok(turns >= 5, `the event loop turned ${turns} time(s) during the check`);
  assert.equal(found.map((d) => [d.kind, d.lifecycle_id]), [['leaked', 'lc-00000042']]);
  db.close();
});

test('slow holder reads still give the event loop back every few milliseconds, not every few hundred reads', async () => {
  const { db, store, ipam } = setup();
  // Each read holds the loop 0.5 ms (a page-cache miss at 10M): a page of 1,000 holders is 500 ms
  // of reads, which a budget of time splits into dozens of turns, and a count of reads into four or five.
  const slow = asyncOf(store);
  const holder = slow.holder.bind(slow);
  slow.holder = (id) => {
    const until = performance.now() + 0.5;
    while (performance.now() < until);
    return holder(id);
  };
  const inventory = createInventory({ store: slow, ipam, seen: createHeldScratch(db) });
  const turns = await turnsDuring(() => inventory.discrepancies());
  // 5,000 reads at 0.5 ms: 2.5 s of reads, at least ~250 slices of 10 ms; by count (256 reads a turn, and one per page), 48 turns.
  assert.ok(turns >= 100, `the event loop turned ${turns} time(s) during 2.5 s of holder reads`);
  db.close();
});

test('the clean-up reclaims what its own check found, giving the event loop back as it goes', async () => {
  const { db, store, ipam, inventory } = setup();
  const row = store.get('lc-00000100')!;
  store.save({ ...row, state: 'revoked', revoked_at: new Date().toISOString() }, null);
  const cleanup = createCleanup({ store: asyncOf(store), service: {} as LifecycleService, ipam, inventory, log: pino({ level: 'silent' }), staleAllocatedAfterS: 0, reclaimLeaks: true });
  let result: Awaited<ReturnType<typeof cleanup.run>> | undefined;
  const turns = await turnsDuring(async () => (result = await cleanup.run()));
  assert.ok(turns >= 5, `the event loop turned ${turns} time(s) during the clean-up`);
  assert.is(result!.reclaimed, 1);
  assert.is((await inventory.discrepancies()).length, 0);
  db.close();
});

test.run();
