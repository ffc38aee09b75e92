// Review 8: GenieACS without connection requests (`genieacs.connection_request: false`, the NBI
// queues every task for the CPE's next inform). A CPE offline at activation and still offline at
// revocation: README "An offline CPE is not a failure ... Its step stays in the lifecycle's pending
// list and is retried until the ACS confirms it"; revocation turns PD off at the CPE.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { TR181_PD_MODEL } from '../support/genieacs-acs.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('REVIEW8 CPE offline from activation to revocation, no connection requests');
let acs: GenieacsNbi;
let run: Running;

test.before.each(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, connection_request: false, timeout_ms: 2000 }, runtime: { pending_interval_ms: 60_000 } });
});
test.after.each(async () => {
  await run.close();
  await acs.close();
});

const pd = (id: string) => [acs.value(id, 'Device.DHCPv6.Client.1.Enable'), acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];

test('REVIEW8 activate then revoke while the CPE is offline: after its next inform the CPE has PD off, not on', async () => {
  // A CPE that never had IPv6 PD: every "off" value already holds in GenieACS's copy.
  const params = { ...TR181_PD_MODEL, 'Device.DHCPv6.Client.1.RequestPrefixes': [false, 'xsd:boolean', true] as [boolean, string, boolean] };
  const cpe = acs.addDevice({ mode: 'offline', params });
  await run.call('POST', 'allocate', { subscriber_id: 'off-1' });
  const active = await run.call('POST', 'activate', { subscriber_id: 'off-1', username: 'off-1@isp', cpe_id: cpe.id });
  assert.equal([active.body.state, active.body.pending.map((p: { step: string }) => p.step)], ['active', ['cpe_configure_pd']]);
  const revoked = await run.call('POST', 'revoke', { subscriber_id: 'off-1' });
  assert.is(revoked.body.state, 'revoked');
  const queued = acs.tasks(cpe.id).length;
  acs.inform(cpe.id); // the CPE comes back and runs whatever the ACS holds for it, oldest first
  const seen = `revoked with pending ${JSON.stringify(revoked.body.pending.map((p: { step: string }) => p.step))}; ${queued} task(s) at the ACS at the inform`;
  assert.equal(pd(cpe.id), [false, false, false], `PD is on at a revoked subscriber's CPE (${seen})`);
});

test.run();
