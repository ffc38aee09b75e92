// What the soak found, pinned down without chance: a revoked lifecycle's CPE removal that is still
// pending (the ACS was down at the revocation) must not run once the subscriber's next lifecycle
// has configured the same CPE. The pending worker used to retry it anyway and turn DHCPv6-PD off
// for an active subscriber (the soak's "each CPE delegates a prefix exactly while its subscriber is
// active or suspended" failed the same way); now the step is resolved as superseded.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('soak finding: CPE handed over from a revoked lifecycle to the next one');
let acs: GenieacsNbi;
let run: Running;

test.before(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, timeout_ms: 2000, task_timeout_ms: 200 }, runtime: { pending_backoff_max_ms: 1000 } });
});

test.after(async () => {
  await run.close();
  await acs.close();
});

test('a pending cpe_remove_ipv6 of a revoked lifecycle leaves the CPE of the next, active lifecycle delegating', async () => {
  const cpe = acs.addDevice();
  const pd = () => [acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), acs.value(cpe.id, 'Device.IP.Interface.2.IPv6Enable')];
  await run.call('POST', 'allocate', { subscriber_id: 's1' });
  await run.call('POST', 'activate', { subscriber_id: 's1', username: 'u1', cpe_id: cpe.id });
  acs.setDown(true);
  const revoked = await run.call('POST', 'revoke', { subscriber_id: 's1' });
  assert.equal([revoked.body.state, revoked.body.pending.map((p: { step: string }) => p.step)], ['revoked', ['cpe_remove_ipv6']]);
  acs.setDown(false);
  await run.call('POST', 'allocate', { subscriber_id: 's1' });
  const active = await run.call('POST', 'activate', { subscriber_id: 's1', username: 'u1', cpe_id: cpe.id });
  assert.equal([active.body.state, pd()], ['active', [true, true]]);
  // Past the revoked lifecycle's backoff, the pending work is due.
  await new Promise((resolve) => setTimeout(resolve, 1100));
  await run.svc.tickPending();
  assert.is((await run.call('GET', 'lifecycle/s1')).body.state, 'active');
  assert.equal(pd(), [true, true], 'the revoked lifecycle\'s pending removal turned DHCPv6-PD off on the CPE of the active lifecycle');
  const { events } = (await run.call('GET', 'lifecycle/s1/events')).body;
  const resolved = (events as { type: string; lifecycle_id: string; detail: Record<string, unknown> }[]).filter((e) => e.type === 'PENDING_RESOLVED');
  assert.equal(resolved.map((e) => [e.lifecycle_id, e.detail.step, e.detail.superseded_by]), [[revoked.body.lifecycle_id, 'cpe_remove_ipv6', active.body.lifecycle_id]]);
});

test.run();
