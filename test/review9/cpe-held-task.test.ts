// A CPE whose connection request failed once (a brief outage) and is reachable again: its task is
// still held at the ACS. A pending retry must not wait for the CPE's periodic inform (often hours):
// it sends a connection request alone, which keeps the held task's place in the queue.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpeHarness } from '../review8/cpe-support.ts';

const test = suite('REVIEW9 a held CPE task and a reachable CPE');
const h = cpeHarness(test);
const pd = (id: string) => [h.acs.value(id, 'Device.DHCPv6.Client.1.Enable'), h.acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes')];

test('REVIEW9 the pending retry sends a connection request: the CPE runs the held task, the step resolves', async () => {
  const cpe = h.acs.addDevice({ mode: 'unreachable' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'held-1' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'held-1', username: 'held-1@isp', cpe_id: cpe.id });
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  const posts = () => h.acs.requests.filter((r) => r.method === 'POST' && r.body !== '').length;
  const before = posts();
  h.acs.setMode(cpe.id, 'online'); // reachable again, no inform yet
  h.makeDue('held-1');
  await h.run.svc.tickPending();
  assert.equal(pd(cpe.id), [true, true], 'the CPE ran the held task');
  assert.equal(posts(), before, 'no task was queued again');
  assert.equal(h.acs.tasks(cpe.id), [], 'nothing left at the ACS');
  for (let i = 0; i < 3 && h.run.svc.store.live('held-1')!.next_pending_at; i++) {
    h.makeDue('held-1');
    await h.run.svc.tickPending();
  }
  const after = await h.run.call('GET', 'lifecycle/held-1');
  assert.equal(after.body.pending, []);
});

test('REVIEW9 a connection request that fails leaves the task held and the step pending', async () => {
  const cpe = h.acs.addDevice({ mode: 'unreachable' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'held-2' });
  await h.run.call('POST', 'activate', { subscriber_id: 'held-2', username: 'held-2@isp', cpe_id: cpe.id });
  h.makeDue('held-2');
  await h.run.svc.tickPending();
  const after = await h.run.call('GET', 'lifecycle/held-2');
  assert.equal(after.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  assert.equal(h.acs.tasks(cpe.id).length, 1, 'the task is still held, once');
  const crs = h.acs.requests.filter((r) => r.method === 'POST' && r.body === '' && r.url.includes('connection_request'));
  assert.equal(crs.length, 1, 'one connection request alone');
});

test.run();
