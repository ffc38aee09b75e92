// Review 11 (cpe11): one CPE id on two subscribers (a CPE handed on to the next tenant before the
// old subscriber is revoked). The pending-work scheduler drops a removal that a later lifecycle has
// superseded, but the revocation's own first attempt sent it: revoking the old subscriber turned
// DHCPv6-PD off on the CPE the new subscriber is using. Driven through the REST API only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('review11: revoking an older subscriber leaves a CPE a later one has alone');
let acs: GenieacsNbi;
let run: Running;
const call = (method: string, path: string, body?: unknown) => run.call(method, path, body);
const pd = (id: string) => [acs.value(id, 'Device.DHCPv6.Client.1.Enable'), acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];
const taskPosts = () => acs.requests.filter((r) => r.method === 'POST' && r.body.includes('"setParameterValues"'));

test.before.each(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 }, runtime: { pending_interval_ms: 200 } });
});
test.after.each(async () => {
  await run.close();
  await acs.close();
});

async function handedOn(mode: 'online' | 'offline') {
  const cpe = acs.addDevice({ mode });
  for (const [s, u] of [['old', 'old@isp'], ['new', 'new@isp']]) {
    await call('POST', 'allocate', { subscriber_id: s });
    assert.is((await call('POST', 'activate', { subscriber_id: s, username: u, cpe_id: cpe.id })).body.state, 'active');
  }
  return cpe.id;
}

test('online CPE: revoke old → revoked, no removal sent, PD still on for the new subscriber', async () => {
  const id = await handedOn('online');
  const before = taskPosts().length;
  const revoked = await call('POST', 'revoke', { subscriber_id: 'old' });
  assert.equal([revoked.status, revoked.body.state, revoked.body.pending], [200, 'revoked', []]);
  assert.is(taskPosts().length, before, 'no removeIpv6 task sent to a CPE a later lifecycle has');
  assert.equal(pd(id), [true, true, true]);
  const events = (await call('GET', 'lifecycle/old/events')).body.events as { type: string; detail: Record<string, unknown> }[];
  assert.ok(events.some((e) => e.detail?.step === 'cpe_remove_ipv6' && e.detail?.reason === 'cpe_superseded'), 'the audit trail says why');
});

test('offline CPE: the old removal is never queued behind the new configuration', async () => {
  const id = await handedOn('offline');
  await call('POST', 'revoke', { subscriber_id: 'old' });
  assert.not.ok(acs.tasks(id).some((t) => JSON.stringify(t).includes('"false"') || JSON.stringify(t).includes(',false')), 'no removal held at the ACS');
  acs.inform(id);
  assert.equal(pd(id), [true, true, true]);
});

test.run();
