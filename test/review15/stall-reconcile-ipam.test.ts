// Issue 10: no job holds the event loop more than 50 ms. At 165,000 lifecycles reconcile's IPAM
// comparison was one synchronous pass over ~135k holdings (320 ms). It must give the loop back
// every IPAM_SLICE items: counted as turns of the loop after the last read of the field (the
// utilization read, just before the comparison) and as items read per synchronous slice.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { parseConfig } from '../../config.ts';
import { createReconcile } from '../../runtime/reconcile.ts';
import { compareIpam, emptyIndex, type LifecycleIndex } from '../../runtime/reconcile-checks.ts';
import { compareIpamInSlices, IPAM_SLICE } from '../../runtime/reconcile-ipam.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { createReconciliationStore } from '../../store/reconciliation.ts';
import { turnsDuring } from '../support/event-loop.ts';
import { driftedField } from './stall-support.ts';

const test = suite('stall: reconcile compares IPAM in slices');
const HELD = 20_000;

test('a dry reconcile over 20,000 holdings turns the event loop during the IPAM comparison, once per slice', async () => {
  const db = openDatabase(':memory:');
  const embedded = fillHeld(db, HELD);
  const ipam = createIpamRouter(new Map([[SCAN_POOL.name, embedded]]));
  let compared: Promise<number> | undefined;
  const utilization: typeof ipam.utilization = async (signal) => {
    const u = await ipam.utilization(signal);
    // From here on the job only compares, holds back and stores: count the turns it gives the loop.
    compared = turnsDuring(() => ran!);
    return u;
  };
  let ran: Promise<unknown> | undefined;
  const job = createReconcile({
    store: asyncOf(createLifecycleStore(db)),
    results: asyncOf(createReconciliationStore(db)),
    ipam: { ...ipam, utilization },
    pools: [{ name: SCAN_POOL.name, prefixLength: SCAN_POOL.prefixLength }],
    radius: null,
    cpe: null,
    config: parseConfig({}).reconcile,
    log: pino({ level: 'silent' }),
    gauge: () => undefined,
  });
  ran = job.run({ dryRun: true, signal: new AbortController().signal });
  const { counts } = (await ran) as { counts: Record<string, number> };
  const turns = await compared!;
  // Two passes over the holdings and one over the live lifecycles.
  assert.ok(turns >= Math.floor((3 * HELD) / IPAM_SLICE) - 1, `the loop turned ${turns} time(s) while IPAM was compared`);
  assert.is(counts.ipam_orphan, 0);
  assert.is(counts.ipam_missing, 0);
  db.close();
});

/** Counts the holdings and live lifecycles the comparison reads, slice by slice. */
function counting(ix: LifecycleIndex, held: ReturnType<typeof driftedField>['held']) {
  const slices = [0];
  const values = ix.live.values.bind(ix.live);
  ix.live.values = function* () {
    for (const v of values()) {
      slices[slices.length - 1]!++;
      yield v;
    }
  } as typeof ix.live.values;
  const items = [...held];
  const iter = items[Symbol.iterator].bind(items);
  items[Symbol.iterator] = function* () {
    for (const h of iter()) {
      slices[slices.length - 1]!++;
      yield h;
    }
  } as typeof items[typeof Symbol.iterator];
  return { slices, items, pause: async () => void slices.push(0) };
}

test('in slices it reads at most `slice` items between two pauses, and finds exactly what the whole pass finds', async () => {
  const field = driftedField(3000);
  const whole = compareIpam(field.ix, field.held, field.poolLength);
  const kinds = new Set(whole.map((f) => `${f.kind}:${f.repairable}:${'claimed_by' in f.detail}:${f.lifecycle ? 'named' : 'none'}`));
  // Drift of every kind the comparison finds: orphans marked and not, claimed, named; missing.
  for (const k of ['ipam_orphan:true:false:none', 'ipam_orphan:false:false:none', 'ipam_orphan:false:true:none', 'ipam_orphan:true:false:named', 'ipam_missing:false:false:named']) {
    assert.ok(kinds.has(k), `the data set has ${k}: ${[...kinds].join(', ')}`);
  }
  for (const slice of [1, 7, 500, 5000]) {
    const c = counting(field.ix, field.held);
    const sliced = await compareIpamInSlices(field.ix, c.items, field.poolLength, { slice, pause: c.pause });
    assert.equal(sliced, whole, `slice ${slice}`);
    // A for…of takes the next item before the pass decides to pause: one more read than it compares.
    assert.ok(Math.max(...c.slices) <= slice + 1, `slice ${slice}: at most ${Math.max(...c.slices)} items in one synchronous slice`);
    assert.ok(c.slices.length >= Math.floor(c.slices.reduce((a, b) => a + b, 0) / slice), `slice ${slice}: ${c.slices.length} slices`);
    field.ix.live.values = Map.prototype.values.bind(field.ix.live) as typeof field.ix.live.values;
  }
  assert.equal(compareIpam(emptyIndex(), [], new Map()), []);
});

test.run();
