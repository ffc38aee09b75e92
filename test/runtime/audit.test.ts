import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { STEPS } from '../../machines/steps.ts';
import { initialContext } from '../../machines/context.ts';
import { auditDetail, auditType, snakeKeys } from '../../runtime/audit.ts';
import type { LifecycleSnapshot } from '../../runtime/projection.ts';
import { ServiceError } from '../../services/errors.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

// The audit trail (GET /lifecycle/{id}/events) speaks the API's language: a step that had nothing
// to talk to is STEP_SKIPPED, steps go by the public names of `failure.step` and `pending[].step`,
// and `detail` is snake_case throughout. The harness has no RADIUS database and no dynamic
// authorization configured, a fake ACS, and an IPAM that can be made to fail its releases.

const test = suite('runtime audit trail');
let h: Harness;
let failRelease = false;
test.before.each(async () => {
  failRelease = false;
  h = await startHarness({
    wrapIpam: (fake) => ({
      ...fake,
      release: (cmd, signal) => (failRelease ? Promise.reject(new ServiceError('upstream_unavailable', 'IPAM is down')) : fake.release(cmd, signal)),
    }),
  });
});
test.after.each(async () => {
  await h.close();
});

type Event = { type: string; lifecycle_id: string; from: string | null; to: string; detail: Record<string, unknown> };
const events = async (sub: string): Promise<Event[]> => (await h.get(`${BASE}/lifecycle/${sub}/events`)).body.events;
const steps = (trail: Event[]) => trail.filter((e) => e.type.startsWith('STEP_')).map((e) => `${e.type} ${e.detail.step}${e.detail.reason ? ` (${e.detail.reason})` : ''}`);

/** Every key at every depth, with its path. */
function keys(value: unknown, path = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => keys(v, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${path}.${k}`, ...keys(v, `${path}.${k}`)]);
}

test('a step with no peer configured, or nothing for it to act on, is STEP_SKIPPED with the reason, not STEP_DONE', async () => {
  await h.post('allocate', { subscriber_id: 'a1' });
  await h.post('activate', { subscriber_id: 'a1', username: 'u1@isp' });
  await h.post('suspend', { subscriber_id: 'a1' });
  await h.post('revoke', { subscriber_id: 'a1' });
  assert.equal(steps(await events('a1')), [
    'STEP_DONE fake_allocate',
    'STEP_SKIPPED radius_write_reply (not_configured)',
    'STEP_SKIPPED cpe_configure_pd (no_cpe_id)',
    'STEP_SKIPPED radius_remove_reply (not_configured)',
    'STEP_SKIPPED radius_sessions (not_configured)',
    'STEP_DONE fake_release',
    'STEP_SKIPPED radius_remove_reply (not_configured)',
    'STEP_SKIPPED radius_sessions (not_configured)',
    'STEP_SKIPPED cpe_remove_ipv6 (no_cpe_id)',
    'STEP_DONE fake_free',
  ]);
});

test('detail is snake_case at every depth, whatever the machine calls its fields', async () => {
  await h.post('allocate', { subscriber_id: 'a2' });
  await h.post('activate', { subscriber_id: 'a2', username: 'u2@isp', cpe_id: '00D09E-HG8245-0002' });
  await h.post('update', { subscriber_id: 'a2', prefix_length: 48, pool: 'business' });
  await h.post('suspend', { subscriber_id: 'a2', reason: 'unpaid' });
  await h.post('reactivate', { subscriber_id: 'a2' });
  await h.post('revoke', { subscriber_id: 'a2' });
  const trail = await events('a2');
  assert.ok(trail.length > 15, `a full trail (${trail.length} events)`);
  const camel = trail.flatMap((e, i) => keys(e.detail, `events[${i}].detail`)).filter((k) => /[A-Z]/.test(k.split('.').at(-1)!));
  assert.equal(camel, []);
  const activate = trail.find((e) => e.type === 'ACTIVATE')!;
  assert.equal(activate.detail, { state: 'allocated.radius', from_state: 'allocated.idle', username: 'u2@isp', cpe_id: '00D09E-HG8245-0002' });
  const allocated = trail.find((e) => e.detail.step === 'fake_allocate')!;
  assert.equal(Object.keys(allocated.detail.output as object), ['prefix', 'prefix_length', 'netbox_prefix_id']);
  const update = trail.find((e) => e.type === 'UPDATE')!;
  assert.equal(update.detail, { state: 'active.updateAllocate', from_state: 'active.idle', pool: 'business', prefix_length: 48, ipam: 'fake' });
});

test('the trail names a failed step and a pending one as failure.step and pending[].step do', async () => {
  await h.post('allocate', { subscriber_id: 'a3' });
  h.cpe.setOnline('00D09E-HG8245-0003', false);
  const active = await h.post('activate', { subscriber_id: 'a3', username: 'u3@isp', cpe_id: '00D09E-HG8245-0003' });
  const queued = (await events('a3')).filter((e) => e.type === 'STEP_DONE').at(-1)!;
  assert.equal([queued.detail.step, (queued.detail.output as { status: string }).status], [active.body.pending[0].step, 'queued']);
  failRelease = true;
  await h.post('revoke', { subscriber_id: 'a3' });
  const failed = (await h.get(`${BASE}/lifecycle/a3`)).body;
  assert.is(failed.state, 'failed');
  const entry = (await events('a3')).find((e) => e.type === 'STEP_FAILED')!;
  assert.equal([entry.detail.step, entry.detail.from_state], [failed.failure.step, 'revoking.release']);
  assert.is(failed.failure.step, 'fake_release');
});

test('a step is named from the context it ran with: an update release after the IPAM of the prefix it gave back', () => {
  const input = { lifecycleId: 'lc', subscriberId: 's', pool: 'new', prefixLength: 56, ipam: 'embedded' as const };
  const old = { prefix: '2001:db8::/56', prefixLength: 56, netboxPrefixId: 9, pool: 'old', generation: 0, ipam: 'netbox' as const };
  const before = { ...initialContext(input), retired: old };
  const after = { ...before, retired: null };
  const event = { type: 'xstate.done.actor.0.prefixLifecycle.active.updateRelease', output: { at: '2031-01-01T00:00:00.000Z', result: undefined } };
  const snapshot = { value: { active: 'idle' }, context: after } as unknown as LifecycleSnapshot;
  assert.is(auditType(event), 'STEP_DONE');
  assert.equal(auditDetail(event, { path: STEPS.update_release.state, context: before }, 'active.idle', snapshot), {
    state: 'active.idle',
    from_state: 'active.updateRelease',
    step: 'netbox_release',
  });
});

test('snakeKeys(value) → every key snake_case at every depth, the same again once the keys are known, `__proto__` an own key', () => {
  const value = { prefixLength: 56, output: { netboxPrefixId: null, list: [{ nextAttemptAt: 'x' }] }, plain: 'kept' };
  const want = { prefix_length: 56, output: { netbox_prefix_id: null, list: [{ next_attempt_at: 'x' }] }, plain: 'kept' };
  assert.equal(snakeKeys(value), want);
  assert.equal(snakeKeys(value), want);
  const odd = snakeKeys(JSON.parse('{"__proto__": {"isAdmin": true}}')) as Record<string, unknown>;
  assert.is(Object.getPrototypeOf(odd), Object.prototype);
  assert.equal(Object.keys(odd), ['__proto__']);
});

test.run();
