// A pending CPE step's retries and what its `last_error` says: a GenieACS failing (a typed error:
// its code and message), a GenieACS that took the task but would not delete a superseded one of ours
// (a 403 from a proxy, say: the step stays pending for good, e55e249, and before this said nothing),
// and a CPE merely offline again (no error).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpeResult } from '../../services/genieacs/port.ts';
import { ServiceError } from '../../services/errors.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { withContext } from '../support/lifecycle-rows.ts';

const test = suite('review13: a pending CPE step says why its last attempt did not go through');
const CPE = '00D09E-HG8245-0077';
let h: Harness;
let retry: () => Promise<CpeResult> = async () => ({ status: 'queued', taskId: null });
test.before(async () => {
  h = await startHarness({
    config: { runtime: { pending_interval_ms: 60_000 } },
    wrapCpe: (port) => ({
      configurePd: (cmd, signal) => (cmd.pending ? retry() : port.configurePd(cmd, signal)),
      removeIpv6: (cmd, signal) => port.removeIpv6(cmd, signal),
    }),
  });
  h.cpe.setOnline(CPE, false);
});
test.after(async () => {
  await h.close();
});

/** Makes the pending step due now and runs one pass; the lifecycle's pending entry after it. */
async function attempt(s: string) {
  const id = (await h.get(`${BASE}/lifecycle/${s}`)).body.lifecycle_id;
  h.composed.host.stopAll();
  const due = withContext(h.composed.store.get(id)!, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
  h.composed.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  assert.is(await h.composed.tickPending(), 1);
  return (await h.get(`${BASE}/lifecycle/${s}`)).body.pending[0];
}

test('an NBI error, then a superseded task it would not delete, then merely offline', async () => {
  await h.post('allocate', { subscriber_id: 'c1' });
  const active = await h.post('activate', { subscriber_id: 'c1', username: 'c1@isp', cpe_id: CPE });
  assert.equal(active.body.pending.map((p: { step: string; last_error: unknown }) => [p.step, p.last_error]), [['cpe_configure_pd', null]]);

  retry = async () => {
    throw new ServiceError('upstream_unavailable', 'GenieACS POST task answered 502', { retryable: true });
  };
  const failed = await attempt('c1');
  assert.equal([failed.attempts, failed.last_error?.code, failed.last_error?.message], [2, 'upstream_unavailable', 'GenieACS POST task answered 502']);

  retry = async () => ({ status: 'queued', taskId: 't-1', problem: 'GenieACS DELETE task t-0 (a superseded task of ours) answered 403' });
  const held = await attempt('c1');
  assert.equal([held.attempts, held.last_error?.code], [3, 'upstream_rejected']);
  assert.match(held.last_error.message, /superseded task of ours\) answered 403/);

  retry = async () => ({ status: 'queued', taskId: 't-1' });
  const offline = await attempt('c1');
  assert.equal([offline.attempts, offline.last_error], [4, null], 'offline is no error');
});

test.run();
