import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { withContext } from '../support/lifecycle-rows.ts';

// `pending[].next_attempt_at` says when the scheduler asks an offline CPE again, from the moment the
// command is queued; the scheduler keeps to it, and each deferral waits longer (runtime/backoff.ts).

const test = suite('runtime pending-work scheduler');
const BASE_MS = 60_000;
const CPE = '00D09E-HG8245-0042';
let h: Harness;
let commands = 0;
test.before.each(async () => {
  commands = 0;
  h = await startHarness({
    config: { runtime: { pending_interval_ms: BASE_MS } },
    wrapCpe: (port) => ({
      configurePd: (cmd, signal) => (commands++, port.configurePd(cmd, signal)),
      removeIpv6: (cmd, signal) => (commands++, port.removeIpv6(cmd, signal)),
    }),
  });
  h.cpe.setOnline(CPE, false);
});
test.after.each(async () => {
  await h.close();
});

const within = (at: string, from: number, lo: number, hi: number) => {
  const t = Date.parse(at);
  assert.ok(t >= from + lo && t <= from + hi, `${at} is not within [${lo}, ${hi}] ms of ${new Date(from).toISOString()}`);
};

test('a queued CPE command has its first retry scheduled, and the scheduler does not ask before then', async () => {
  await h.post('allocate', { subscriber_id: 'p1' });
  const before = Date.now();
  const active = await h.post('activate', { subscriber_id: 'p1', username: 'u@isp', cpe_id: CPE });
  const [p] = active.body.pending;
  assert.equal([p.step, p.attempts], ['cpe_configure_pd', 1]);
  assert.type(p.next_attempt_at, 'string');
  // Equal jitter on the first step: between half the base and the base.
  within(p.next_attempt_at, before, BASE_MS / 2, BASE_MS + (Date.now() - before));
  const sent = commands;
  assert.is(await h.composed.tickPending(), 0, 'nothing due yet');
  assert.is(commands, sent, 'no command before its time');
  assert.equal((await h.get(`${BASE}/lifecycle/p1`)).body.pending, active.body.pending);
});

test('a deferral schedules the next attempt further out: the backoff grows with the attempts', async () => {
  await h.post('allocate', { subscriber_id: 'p2' });
  const active = await h.post('activate', { subscriber_id: 'p2', username: 'u@isp', cpe_id: CPE });
  // Pretend the first wait elapsed.
  h.composed.host.stopAll();
  const row = h.composed.store.get(active.body.lifecycle_id)!;
  const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
  h.composed.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  const before = Date.now();
  assert.is(await h.composed.tickPending(), 1);
  const [p] = (await h.get(`${BASE}/lifecycle/p2`)).body.pending;
  assert.is(p.attempts, 2);
  // The step before the third attempt is twice the base: between the base and twice it.
  within(p.next_attempt_at, before, BASE_MS, 2 * BASE_MS + (Date.now() - before));
});

test.run();
