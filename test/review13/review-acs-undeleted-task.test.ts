// Review 13 (12b9c69): a command deletes our superseded tasks before it posts, best effort. When the
// NBI refuses the DELETE (503 "Device is in session") the superseded task stays; if it faults in the
// session the connection request starts, the revocation's own task still runs there and the NBI
// answers 200. Taken as done, nothing was left pending, and GenieACS retried the faulted activation
// task at a later session: PD on again at a revoked subscriber's CPE, for good.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpeHarness } from '../review8/cpe-support.ts';

const test = suite('review13: a superseded task the NBI would not delete is not left to run after a "done" revocation');
const h = cpeHarness(test);
const pd = (id: string) => ['Device.DHCPv6.Client.1.Enable', 'Device.DHCPv6.Client.1.RequestPrefixes', 'Device.IP.Interface.2.IPv6Enable'].map((p) => h.acs.value(id, p));
const steps = (body: { pending: { step: string }[] }) => body.pending.map((p) => p.step);

test('DELETE refused, the activation task faults in the revocation\'s session, the revocation gets 200: PD stays off', async () => {
  const cpe = h.acs.addDevice({ mode: 'offline' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'u-1' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'u-1', username: 'u-1@isp', cpe_id: cpe.id });
  assert.equal(steps(active.body), ['cpe_configure_pd']);
  // The CPE is back and in a session: the NBI will not delete the activation's task, and the CPE
  // refuses Device.IP.IPv6Enable (9008) for now, so that task faults and stays.
  h.acs.setMode(cpe.id, 'online');
  const global = cpe.params.get('Device.IP.IPv6Enable')!;
  global.writable = false;
  h.acs.failNext(1, { method: 'DELETE', path: /^\/tasks\//, status: 503, body: 'Device is in session' });
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'u-1' });
  assert.is(revoked.body.state, 'revoked', JSON.stringify(revoked.body));
  assert.equal(pd(cpe.id), [false, false, false]);
  assert.is(h.acs.tasks(cpe.id).length, 1, 'the faulted activation task is still at the ACS');
  // The pending worker gets its turn before the CPE's next session.
  if (steps(revoked.body).length > 0) {
    h.makeDue('u-1');
    await h.run.svc.tickPending();
  }
  global.writable = true;
  h.acs.inform(cpe.id); // GenieACS retries the faulted task at a later session
  assert.equal(pd(cpe.id), [false, false, false], `PD is on again at a revoked subscriber's CPE (tasks left: ${JSON.stringify(h.acs.tasks(cpe.id).map((t) => t.uniqueKey))})`);
  assert.equal((await h.run.call('GET', 'lifecycle/u-1')).body.pending, []);
});

test.run();
