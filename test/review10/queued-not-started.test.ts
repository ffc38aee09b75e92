// Review 10 (several instances, kills; found by inst10): an operation waiting its turn behind the
// subscriber's earlier one (an activation whose CPE is slow) answered 202 "accepted" once its
// ?wait= was up, while it existed only in the process's memory: a crash before its turn lost it,
// and the client polled for a suspension that never came. Now a 202 means the operation's event is
// stored; one without an Idempotency-Key that could not start within its wait is refused with 503
// and never runs, so the client sends it again. With a key it is accepted as before: a replay of the
// key hears of it, or runs it after a crash. A repeated revoke behind a revocation under way is not
// refused: that revocation is stored.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpePort } from '../../services/genieacs/port.ts';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10: an operation still waiting its turn is never answered 202');
let svc: Service;
let gate: { promise: Promise<void>; open(): void };
const newGate = () => {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
};
const cpe: CpePort = {
  configurePd: async () => (await gate.promise, { status: 'done' }),
  removeIpv6: async () => (await gate.promise, { status: 'done' }),
};

test.before(async () => {
  svc = await startService(() => ({}), { overrides: { cpe } });
});
test.after(async () => {
  gate.open();
  await svc.close();
});

const types = async (id: string) => ((await svc.get(`lifecycle/${id}/events`)).body.events as { type: string }[]).map((e) => e.type);

test('suspend?wait=0 behind an activation still configuring the CPE: 503, nothing changed then or later', async () => {
  gate = newGate();
  assert.is((await svc.post('allocate', { subscriber_id: 'q1' })).status, 201);
  const activating = await svc.post('activate?wait=0', { subscriber_id: 'q1', username: 'q1@example.net', cpe_id: 'CPE-q1' });
  assert.is(activating.status, 202);
  const suspend = await svc.post('suspend?wait=0', { subscriber_id: 'q1', reason: 'unpaid' });
  const trail = await types('q1');
  if (suspend.status === 202) assert.ok(trail.includes('SUSPEND'), `a 202 while the suspension is only in memory (trail: ${trail.join(', ')})`);
  assert.is(suspend.status, 503);
  assert.is(suspend.body.error.code, 'unavailable');
  assert.match(suspend.body.error.message, /not started/);
  assert.ok(suspend.headers.get('retry-after'), 'Retry-After says when to send it again');
  gate.open();
  for (let i = 0; i < 100 && (await svc.get('lifecycle/q1')).body.state !== 'active'; i++) await new Promise((r) => setTimeout(r, 20));
  // Past the point where a suspension waiting for the activation would have run.
  await new Promise((r) => setTimeout(r, 200));
  assert.is((await svc.get('lifecycle/q1')).body.state, 'active', 'the refused suspension never ran');
  assert.not.ok((await types('q1')).includes('SUSPEND'));
  assert.is((await svc.post('suspend', { subscriber_id: 'q1' })).body.state, 'suspended', 'sent again, it runs');
});

test('with an Idempotency-Key it is accepted (202) as before: a replay of the key hears of it, and after a crash runs it', async () => {
  gate = newGate();
  assert.is((await svc.post('allocate', { subscriber_id: 'q2' })).status, 201);
  assert.is((await svc.post('activate?wait=0', { subscriber_id: 'q2', username: 'q2@example.net', cpe_id: 'CPE-q2' })).status, 202);
  const key = { 'Idempotency-Key': 'suspend-q2' };
  assert.is((await svc.post('suspend?wait=0', { subscriber_id: 'q2' }, key)).status, 202);
  gate.open();
  const again = await svc.post('suspend', { subscriber_id: 'q2' }, key);
  assert.is(again.status, 200);
  assert.is(again.body.state, 'suspended');
});

test('an operation whose turn comes within its wait answers as before (202 once stored, or settled)', async () => {
  gate = newGate();
  assert.is((await svc.post('allocate', { subscriber_id: 'q3' })).status, 201);
  assert.is((await svc.post('activate?wait=0', { subscriber_id: 'q3', username: 'q3@example.net', cpe_id: 'CPE-q3' })).status, 202);
  setTimeout(() => gate.open(), 150);
  const suspend = await svc.post('suspend?wait=2000', { subscriber_id: 'q3' });
  assert.is(suspend.status, 200);
  assert.is(suspend.body.state, 'suspended');
});

test('a repeated revoke behind a revocation under way answers 202 with it, and both end revoked', async () => {
  gate = newGate();
  assert.is((await svc.post('allocate', { subscriber_id: 'q4' })).status, 201);
  gate.open();
  assert.is((await svc.post('activate', { subscriber_id: 'q4', username: 'q4@example.net', cpe_id: 'CPE-q4' })).body.state, 'active');
  gate = newGate();
  const first = await svc.post('revoke?wait=0', { subscriber_id: 'q4' });
  assert.is(first.status, 202);
  const second = await svc.post('revoke?wait=0', { subscriber_id: 'q4' });
  assert.is(second.status, 202);
  assert.is(second.body.state, 'revoking');
  gate.open();
  assert.is((await svc.post('revoke', { subscriber_id: 'q4' })).body.state, 'revoked');
});

test.run();
