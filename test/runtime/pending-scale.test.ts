// Thousands of pending CPE steps (offline CPEs back online) are worked through in one pass of the
// pending worker, concurrently, and never with more requests in flight at the ACS than its limit.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createPendingWorker } from '../../runtime/pending-worker.ts';
import type { CpePort } from '../../services/genieacs/port.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { asyncOf } from '../../store/port.ts';
import { decodeSnapshot, encodeSnapshot } from '../../store/snapshot-codec.ts';

const test = suite('runtime pending worker at scale, under the ACS limit');
const CPE = '00D09E-HG8245-0777';
const LIMIT = 8;
const N = 3000;
let h: Harness;
const acs = { inFlight: 0, maxInFlight: 0, completed: 0 };

/** The fake CPE port, counting what is in flight at it; each command takes a little while, as an ACS does. */
function counting(port: CpePort): CpePort {
  const count = async <T>(call: () => Promise<T>): Promise<T> => {
    acs.inFlight++;
    acs.maxInFlight = Math.max(acs.maxInFlight, acs.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 2));
      return await call();
    } finally {
      acs.inFlight--;
      acs.completed++;
    }
  };
  return { configurePd: (cmd, s) => count(() => port.configurePd(cmd, s)), removeIpv6: (cmd, s) => count(() => port.removeIpv6(cmd, s)) };
}

test.before(async () => {
  h = await startHarness({
    config: { runtime: { pending_interval_ms: 60_000, idle_ms: 100 }, limits: { genieacs: { concurrency: LIMIT } } },
    wrapCpe: counting,
  });
});
test.after(async () => {
  await h.close();
});

/** N lifecycles each with a pending CPE step due now: copies of one made through the API, under their own ids. */
function pendingLifecycles(n: number, tag = 'pend'): string[] {
  const { store, db, host } = h.composed;
  const template = store.get(h.composed.store.live('template')!.id)!;
  host.stopAll();
  const due = new Date(0).toISOString();
  const ids: string[] = [];
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      const id = `${tag}-${String(i).padStart(6, '0')}`;
      const swap = (text: string) => text.split(template.id).join(id).split('"template"').join(`"sub-${id}"`);
      const snapshot = JSON.parse(swap(JSON.stringify(decodeSnapshot(template))));
      for (const p of snapshot.context.pending) p.next_attempt_at = due;
      const row = { ...template, id, subscriber_id: `sub-${id}`, prefix: null, next_pending_at: due };
      store.save({ ...row, snapshot: encodeSnapshot(snapshot, row) }, null);
      ids.push(id);
    }
  })();
  return ids;
}

test(`${N} pending CPE steps are all resolved in one pass, concurrently, never more than ${LIMIT} at the ACS`, async () => {
  h.cpe.setOnline(CPE, false);
  await h.post('allocate', { subscriber_id: 'template' });
  const active = await h.post('activate', { subscriber_id: 'template', username: 'u@isp', cpe_id: CPE });
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  const ids = pendingLifecycles(N);
  h.cpe.setOnline(CPE, true);
  Object.assign(acs, { inFlight: 0, maxInFlight: 0, completed: 0 });
  const looked = await h.composed.tickPending();
  assert.is(looked, N);
  assert.is(acs.completed, N, 'every step asked the ACS once');
  assert.is(acs.maxInFlight, LIMIT, 'concurrently, up to the limit and never past it');
  assert.is(h.composed.store.countPending(), 1, 'only the template, not due yet, is left');
  for (const id of [ids[0]!, ids[N - 1]!]) assert.equal(h.composed.store.get(id)!.next_pending_at, null);
  assert.equal((await h.get(`${BASE}/lifecycle/sub-${ids[7]}`)).body.pending, []);
});

test('the first pass after a start spreads its attempts over the interval; later passes and a pass asked for now do not wait', async () => {
  pendingLifecycles(20, 'herd');
  const waits: number[] = [];
  const worker = createPendingWorker({
    store: asyncOf(h.composed.store),
    host: h.composed.host,
    cpe: counting(h.cpe.port),
    log: pino({ level: 'silent' }),
    baseDelayMs: 60_000,
    maxDelayMs: 3_600_000,
    spreadFirstMs: 30_000,
    random: () => 0.5,
    sleep: async (ms) => void waits.push(ms),
  });
  assert.is(await worker.tick(), 20);
  // The k-th due waits for its share of the interval, until (k + 0.5) / 20 of it (less the little
  // time the pass has run): an even rate over the whole interval.
  const sorted = waits.sort((a, b) => a - b);
  assert.is(sorted.length, 20, 'each one waits');
  sorted.forEach((ms, k) => assert.ok(ms > (k + 0.5) * 1500 - 1000 && ms <= (k + 0.5) * 1500, `wait ${k}: ${ms} ms`));
  pendingLifecycles(5, 'later');
  assert.is(await worker.tick(), 5);
  assert.is(waits.length, 20, 'the second pass does not wait');
  pendingLifecycles(5, 'asked');
  const again = createPendingWorker({ store: asyncOf(h.composed.store), host: h.composed.host, cpe: h.cpe.port, log: pino({ level: 'silent' }), baseDelayMs: 1, maxDelayMs: 1000, spreadFirstMs: 30_000, sleep: async (ms) => void waits.push(ms) });
  assert.is(await again.tick({ spreadMs: 0 }), 5);
  assert.is(waits.length, 20, 'a pass asked for now does not wait');
});

test.run();
