// Review 8: GenieACS with connection requests (the default) and a CPE behind NAT: the ACS can never
// reach it with a connection request, but it informs periodically and runs its queued tasks then.
// README: the pending step "is retried until the ACS confirms it".
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpeHarness } from './cpe-support.ts';

const test = suite('REVIEW8 a CPE the ACS cannot reach by connection request');
const h = cpeHarness(test);
const pd = (id: string) => [h.acs.value(id, 'Device.DHCPv6.Client.1.Enable'), h.acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), h.acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];

test('REVIEW8 the CPE ran the queued task at its inform and is unreachable again: the pending step resolves', async () => {
  const cpe = h.acs.addDevice({ mode: 'unreachable' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'nat-1' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'nat-1', username: 'nat-1@isp', cpe_id: cpe.id });
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  h.acs.inform(cpe.id); // its periodic inform: the session runs the queued task
  h.acs.setMode(cpe.id, 'unreachable'); // and it is behind NAT again
  assert.equal(pd(cpe.id), [true, true, true], 'the CPE applied the values');
  for (let i = 0; i < 3 && h.run.svc.store.live('nat-1')!.next_pending_at; i++) {
    h.makeDue('nat-1');
    await h.run.svc.tickPending();
  }
  const after = await h.run.call('GET', 'lifecycle/nat-1');
  const tasks = h.acs.tasks(cpe.id).length;
  assert.equal(after.body.pending, [], `still pending after the CPE applied it (${JSON.stringify(after.body.pending)}; ${tasks} task(s) re-queued at the ACS)`);
});

test.run();
