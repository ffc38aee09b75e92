// Review 13: the GenieACS client against contract-true stand-in variations (contracts/genieacs).
// A device id with escaped space, slash and percent; a CPE that answers no connection request, so
// every first POST is 202 "Task queued but not processed" and runs at the next inform; and a task
// that faults: "A queued or faulted task stays in tasks until it succeeds, expires, or is deleted.
// Faulted tasks are retried on later sessions." An older task of ours left at the ACS may so run
// after a newer one, and turn PD back on at a revoked subscriber's CPE.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpeHarness } from '../review8/cpe-support.ts';

const test = suite('REVIEW13 GenieACS stand-in variations: odd ids, 202 first, faulted tasks retried late');
const h = cpeHarness(test);
const pd = (id: string) => ['Device.DHCPv6.Client.1.Enable', 'Device.DHCPv6.Client.1.RequestPrefixes', 'Device.IP.Interface.2.IPv6Enable'].map((p) => h.acs.value(id, p));
const steps = (body: { pending: { step: string }[] }) => body.pending.map((p) => p.step);

test('REVIEW13 activate, update, suspend, revoke with an escaped id and every POST answered 202: PD ends off', async () => {
  const cpe = h.acs.addDevice({ id: '00AABB-Home%20Gateway-SN%2F01%2500', mode: 'offline' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'v-1' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'v-1', username: 'v-1@isp', cpe_id: cpe.id });
  assert.equal([active.body.state, steps(active.body)], ['active', ['cpe_configure_pd']]);
  h.acs.inform(cpe.id);
  h.acs.setMode(cpe.id, 'offline');
  assert.equal(pd(cpe.id), [true, true, true]);
  const updated = await h.run.call('POST', 'update', { subscriber_id: 'v-1' });
  assert.equal([updated.status, updated.body.state, steps(updated.body)], [200, 'active', ['cpe_configure_pd']]);
  assert.is.not(updated.body.prefix, active.body.prefix);
  const suspended = await h.run.call('POST', 'suspend', { subscriber_id: 'v-1' });
  assert.is(suspended.body.state, 'suspended');
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'v-1' });
  assert.equal([revoked.body.state, steps(revoked.body)], ['revoked', ['cpe_remove_ipv6']]);
  h.acs.inform(cpe.id);
  assert.equal(pd(cpe.id), [false, false, false]);
  // The id went into the path encoded once more (`%20` as `%2520`), and into queries as it is stored.
  const posts = h.acs.requests.filter((r) => r.method === 'POST').map((r) => r.url.split('?')[0]);
  assert.ok(posts.length >= 3 && posts.every((u) => u === '/devices/00AABB-Home%2520Gateway-SN%252F01%252500/tasks'), posts.join(' '));
  h.makeDue('v-1');
  await h.run.svc.tickPending();
  assert.equal((await h.run.call('GET', 'lifecycle/v-1')).body.pending, []);
});

test('REVIEW13 an activation task that faulted and is retried after the revocation ran: PD stays off', async () => {
  const cpe = h.acs.addDevice({ mode: 'offline' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'v-2' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'v-2', username: 'v-2@isp', cpe_id: cpe.id });
  assert.equal(steps(active.body), ['cpe_configure_pd']);
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'v-2' });
  assert.equal([revoked.body.state, steps(revoked.body)], ['revoked', ['cpe_remove_ipv6']]);
  // At its next inform the CPE refuses Device.IP.IPv6Enable (9008) for a while: the activation's
  // task faults and stays, the revocation's (which does not set it) runs.
  const global = cpe.params.get('Device.IP.IPv6Enable')!;
  global.writable = false;
  h.acs.inform(cpe.id);
  assert.equal(pd(cpe.id), [false, false, false]);
  // The revocation's retry sees its task gone and the values holding: done.
  h.makeDue('v-2');
  await h.run.svc.tickPending();
  assert.equal((await h.run.call('GET', 'lifecycle/v-2')).body.pending, []);
  global.writable = true;
  const left = h.acs.tasks(cpe.id).map((t) => t.uniqueKey);
  h.acs.inform(cpe.id); // GenieACS retries the faulted task at a later session
  assert.equal(pd(cpe.id), [false, false, false], `PD is on again at a revoked subscriber's CPE (tasks at the ACS before: ${JSON.stringify(left)})`);
});

test('REVIEW13 the superseded task cannot be deleted (503 "Device is in session"): the revocation is queued all the same', async () => {
  const cpe = h.acs.addDevice({ mode: 'offline' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'v-3' });
  await h.run.call('POST', 'activate', { subscriber_id: 'v-3', username: 'v-3@isp', cpe_id: cpe.id });
  h.acs.failNext(1, { method: 'DELETE', path: /^\/tasks\//, status: 503, body: 'Device is in session' });
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'v-3' });
  assert.equal([revoked.body.state, steps(revoked.body), revoked.body.failure], ['revoked', ['cpe_remove_ipv6'], null]);
  assert.is(h.acs.requests.filter((r) => r.method === 'DELETE').length, 1, 'the one DELETE was tried, and refused');
  assert.is(h.acs.tasks(cpe.id).length, 2);
  h.acs.inform(cpe.id); // both run, oldest first
  assert.equal(pd(cpe.id), [false, false, false]);
});

test.run();
