// Start-up with lifecycles in flight: the service is ready before they are all hydrated, resumes
// them in the background, and a request for one not yet resumed hydrates it once (one actor).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpePort } from '../../services/genieacs/port.ts';
import { BASE, gatedCpe, startHarness, type Harness } from '../http/support.ts';

const test = suite('start-up resume');
const IN_FLIGHT = 600;

let dir = '';
let h: Harness | null = null;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'resume-test-'));
});
test.after.each(async () => {
  await h?.close();
  h = null;
  rmSync(dir, { recursive: true, force: true });
});

/** Counts every CPE command by its idempotency key: an actor resumed twice would send its step twice. */
function counted(inner: CpePort, calls: Map<string, number>): CpePort {
  const bump = (key: string) => calls.set(key, (calls.get(key) ?? 0) + 1);
  return {
    configurePd: (cmd, signal) => (bump(cmd.key), inner.configurePd(cmd, signal)),
    removeIpv6: (cmd, signal) => (bump(cmd.key), inner.removeIpv6(cmd, signal)),
  };
}

/** `IN_FLIGHT` lifecycles whose activation is stuck on the CPE step when the process stops. */
async function stopWithActivationsInFlight(): Promise<void> {
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  const first = await startHarness({ dir, wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  const ids = Array.from({ length: IN_FLIGHT }, (_, i) => `r-${i}`);
  for (const s of ids) await first.post('allocate', { subscriber_id: s });
  gate.g!.close();
  for (const s of ids) {
    const json = { subscriber_id: s, username: `${s}@isp`, cpe_id: `CPE-${s}` };
    assert.is((await first.request('POST', `${BASE}/activate?wait=0`, { json })).status, 202);
  }
  await first.close();
}

test('a restart with lifecycles in flight answers /readyz 200 before all are resumed, and every one still finishes', async () => {
  await stopWithActivationsInFlight();
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  h = await startHarness({ dir, wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  gate.g!.close();
  // start() has returned: nothing has yielded to the background resume yet.
  const hydrated = h.composed.host.size;
  const ready = await h.get('/readyz');
  assert.is(ready.status, 200, ready.text);
  assert.ok(hydrated < IN_FLIGHT, `ready with ${hydrated} of ${IN_FLIGHT} hydrated`);
  gate.g!.open();
  const until = Date.now() + 15_000;
  let left = IN_FLIGHT;
  while (left > 0 && Date.now() < until) {
    const rows = h.composed.store.list({ state: 'active', limit: IN_FLIGHT + 1 });
    left = IN_FLIGHT - rows.filter((r) => r.busy === 0 && r.cpe_id !== null).length;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.is(left, 0, 'every lifecycle in flight finished its activation');
  for (const s of ['r-0', `r-${IN_FLIGHT - 1}`]) assert.is(h.cpe.cpe(`CPE-${s}`)?.prefix, h.composed.store.live(s)!.prefix);
});

test('a request for a lifecycle the background resume has not reached hydrates it once: one actor, one step', async () => {
  await stopWithActivationsInFlight();
  const calls = new Map<string, number>();
  h = await startHarness({ dir, wrapCpe: (port) => counted(port, calls) });
  const last = `r-${IN_FLIGHT - 1}`;
  const before = h.composed.host.size;
  // Suspending waits for the activation in flight to settle: the request hydrates the lifecycle itself.
  const suspended = await h.post('suspend', { subscriber_id: last });
  assert.ok(before < IN_FLIGHT, `${before} of ${IN_FLIGHT} hydrated when the request came`);
  assert.is(suspended.status, 200, suspended.text);
  assert.is(suspended.body.state, 'suspended');
  assert.is(h.cpe.cpe(`CPE-${last}`)?.prefix, suspended.body.prefix, 'its activation finished first');
  const until = Date.now() + 15_000;
  while (h.composed.store.busy().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.is(h.composed.store.busy().length, 0, 'all resumed');
  const repeated = [...calls].filter(([, n]) => n !== 1);
  assert.equal(repeated, [], 'each resumed CPE step was sent exactly once');
  assert.is(calls.size, IN_FLIGHT);
});

test.run();
