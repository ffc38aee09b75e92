// The composed service with an ACS (a stub speaking GenieACS's NBI), driven through the REST API:
// DHCPv6-PD turned on at activation and off at revocation; an offline CPE is a pending step that the
// scheduler completes after the CPE's next inform.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { startService, type Running } from './support.ts';
import { withContext } from '../support/lifecycle-rows.ts';

const test = suite('e2e: lifecycle through the REST API with GenieACS');
let acs: GenieacsNbi;
let run: Running;
const call = (method: string, path: string, body?: unknown) => run.call(method, path, body);
const pd = (id: string) => [acs.value(id, 'Device.DHCPv6.Client.1.Enable'), acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];

test.before.each(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 }, runtime: { pending_interval_ms: 1000 } });
});

test.after.each(async () => {
  await run.close();
  await acs.close();
});

test('activate turns DHCPv6-PD on at the CPE; revoke turns it off', async () => {
  const cpe = acs.addDevice();
  assert.equal(pd(cpe.id), [false, true, false]);
  await call('POST', 'allocate', { subscriber_id: 's1' });
  const active = await call('POST', 'activate', { subscriber_id: 's1', username: 'u1@isp', cpe_id: cpe.id });
  assert.equal([active.status, active.body.state, active.body.pending], [200, 'active', []]);
  assert.equal(pd(cpe.id), [true, true, true]);
  const revoked = await call('POST', 'revoke', { subscriber_id: 's1' });
  assert.equal([revoked.body.state, revoked.body.pending], ['revoked', []]);
  assert.equal(pd(cpe.id), [false, false, false]);
});

test('an offline CPE: active with a pending step, done after its next inform, one task at the ACS', async () => {
  const cpe = acs.addDevice({ mode: 'offline' });
  await call('POST', 'allocate', { subscriber_id: 's2' });
  const active = await call('POST', 'activate', { subscriber_id: 's2', username: 'u2@isp', cpe_id: cpe.id });
  assert.is(active.body.state, 'active');
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  assert.is(acs.tasks(cpe.id).length, 1);
  assert.ok(Date.parse(active.body.pending[0].next_attempt_at) > Date.now(), 'the first retry is scheduled');
  // Make the pending step due now rather than waiting out its backoff.
  const makeDue = () => {
    run.svc.host.stopAll();
    const row = run.svc.store.live('s2')!;
    const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
    run.svc.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  };
  makeDue();
  await run.svc.tickPending(); // still offline: deferred, the same task (uniqueKey) replaced, not piled up
  assert.is(acs.tasks(cpe.id).length, 1);
  assert.is((await call('GET', 'lifecycle/s2')).body.pending[0].attempts, 2);
  acs.inform(cpe.id); // the CPE comes back and runs its queued task
  assert.equal(pd(cpe.id), [true, true, true]);
  makeDue();
  await run.svc.tickPending();
  const done = await call('GET', 'lifecycle/s2');
  assert.equal(done.body.pending, []);
});

test('the ACS failing at revocation: revoked anyway, the CPE removal kept as a pending step', async () => {
  const cpe = acs.addDevice();
  await call('POST', 'allocate', { subscriber_id: 's4' });
  await call('POST', 'activate', { subscriber_id: 's4', username: 'u4@isp', cpe_id: cpe.id });
  acs.failNext(10, { method: 'POST', status: 500 });
  const revoked = await call('POST', 'revoke', { subscriber_id: 's4' });
  assert.equal([revoked.status, revoked.body.state, revoked.body.failure], [200, 'revoked', null]);
  assert.equal(revoked.body.pending.map((p: { step: string }) => p.step), ['cpe_remove_ipv6']);
});

test('a CPE the ACS has never seen: activation succeeds with the CPE step pending', async () => {
  await call('POST', 'allocate', { subscriber_id: 's3' });
  const active = await call('POST', 'activate', { subscriber_id: 's3', username: 'u3@isp', cpe_id: '00D09E-NEVER-SEEN1' });
  assert.is(active.body.state, 'active');
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
});

test.run();
