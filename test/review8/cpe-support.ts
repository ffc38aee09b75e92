// The harness of the review8 CPE tests: a stand-in GenieACS NBI and the service with connection
// requests (the default), pending steps retried only when a test makes them due.
import type { Test } from 'uvu';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { withContext } from '../support/lifecycle-rows.ts';
import { startService, type Running } from '../e2e/support.ts';

export interface CpeHarness {
  acs: GenieacsNbi;
  run: Running;
  /** Stops the actors and makes the subscriber's (latest) lifecycle's first pending step due now. */
  makeDue(subscriber: string): void;
}

export function cpeHarness(test: Test): CpeHarness {
  const h = { makeDue } as CpeHarness;
  test.before.each(async () => {
    h.acs = await startGenieacsNbi();
    h.run = await startService({ genieacs: { url: h.acs.url, timeout_ms: 5000, task_timeout_ms: 500 }, runtime: { pending_interval_ms: 60_000 } });
  });
  test.after.each(async () => {
    await h.run.close();
    await h.acs.close();
  });
  function makeDue(subscriber: string): void {
    h.run.svc.host.stopAll();
    const row = h.run.svc.store.live(subscriber) ?? h.run.svc.store.latest(subscriber)!;
    const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
    h.run.svc.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  }
  return h;
}
