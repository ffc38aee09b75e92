// Review 8: GenieACS with connection requests (the default) and a CPE behind NAT: the ACS can never
// reach it with a connection request, but it informs periodically and runs its queued tasks then.
// README: the pending step "is retried until the ACS confirms it".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { withContext } from '../support/lifecycle-rows.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('REVIEW8 a CPE the ACS cannot reach by connection request');
let acs: GenieacsNbi;
let run: Running;

test.before.each(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 }, runtime: { pending_interval_ms: 60_000 } });
});
test.after.each(async () => {
  await run.close();
  await acs.close();
});

const makeDue = (subscriber: string) => {
  run.svc.host.stopAll();
  const row = run.svc.store.live(subscriber)!;
  const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
  run.svc.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
};
const pd = (id: string) => [acs.value(id, 'Device.DHCPv6.Client.1.Enable'), acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];

test('REVIEW8 the CPE ran the queued task at its inform and is unreachable again: the pending step resolves', async () => {
  const cpe = acs.addDevice({ mode: 'unreachable' });
  await run.call('POST', 'allocate', { subscriber_id: 'nat-1' });
  const active = await run.call('POST', 'activate', { subscriber_id: 'nat-1', username: 'nat-1@isp', cpe_id: cpe.id });
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  acs.inform(cpe.id); // its periodic inform: the session runs the queued task
  acs.setMode(cpe.id, 'unreachable'); // and it is behind NAT again
  assert.equal(pd(cpe.id), [true, true, true], 'the CPE applied the values');
  for (let i = 0; i < 3 && run.svc.store.live('nat-1')!.next_pending_at; i++) {
    makeDue('nat-1');
    await run.svc.tickPending();
  }
  const after = await run.call('GET', 'lifecycle/nat-1');
  const tasks = acs.tasks(cpe.id).length;
  assert.equal(after.body.pending, [], `still pending after the CPE applied it (${JSON.stringify(after.body.pending)}; ${tasks} task(s) re-queued at the ACS)`);
});

test.run();
