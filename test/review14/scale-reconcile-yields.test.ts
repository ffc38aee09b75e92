// The reconcile job gives the event loop back while it walks: at 165,000 lifecycles a dry run of
// the embedded defaults held the loop 2.2 s in one piece, so /metrics, /healthz and every request
// waited for it (scale14). Its walk of the store and of IPAM's holdings must be many macrotasks.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { parseConfig } from '../../config.ts';
import { createReconcile } from '../../runtime/reconcile.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { createReconciliationStore } from '../../store/reconciliation.ts';
import { turnsDuring } from '../support/event-loop.ts';

const test = suite('scale: reconcile gives the event loop back');
const HELD = 5000;

test('a dry reconcile over 5000 lifecycles and holdings runs in several macrotasks and finds nothing', async () => {
  const db = openDatabase(':memory:');
  const embedded = fillHeld(db, HELD);
  const store = createLifecycleStore(db);
  const job = createReconcile({
    store: asyncOf(store),
    results: asyncOf(createReconciliationStore(db)),
    ipam: createIpamRouter(new Map([[SCAN_POOL.name, embedded]])),
    pools: [{ name: SCAN_POOL.name, prefixLength: SCAN_POOL.prefixLength }],
    radius: null,
    cpe: null,
    config: parseConfig({}).reconcile,
    log: pino({ level: 'silent' }),
    gauge: () => undefined,
  });
  let counts: Record<string, number> = {};
  const turns = await turnsDuring(async () => ({ counts } = await job.run({ dryRun: true, signal: new AbortController().signal })));
  // 5000 lifecycles in pages of 1000 and 5000 holdings in pages of 1000: a turn per page at least.
  assert.ok(turns >= 8, `the event loop turned ${turns} time(s) during the run`);
  assert.is(counts.ipam_orphan, 0);
  assert.is(counts.ipam_missing, 0);
  db.close();
});

test.run();
