// Review 8: a returned CPE an operator deleted from GenieACS. At revocation the NBI answers
// `404 No such device`: there is nothing to remove IPv6 from, so the revocation must finish, and
// its audit trail must say why the CPE step did nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpeHarness } from './cpe-support.ts';

const test = suite('REVIEW8 revocation of a CPE the ACS no longer knows');
const h = cpeHarness(test);

test('REVIEW8 the CPE was deleted from GenieACS: revoke ends revoked with nothing pending, audit says unknown_to_acs', async () => {
  const cpe = h.acs.addDevice();
  await h.run.call('POST', 'allocate', { subscriber_id: 'gone-1' });
  const active = await h.run.call('POST', 'activate', { subscriber_id: 'gone-1', username: 'gone-1@isp', cpe_id: cpe.id });
  assert.equal([active.body.state, active.body.pending], ['active', []]);
  h.acs.deleteDevice(cpe.id);
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'gone-1' });
  assert.equal([revoked.body.state, revoked.body.pending], ['revoked', []], JSON.stringify(revoked.body));
  const { body } = await h.run.call('GET', 'lifecycle/gone-1/events');
  const step = (body.events as { type: string; detail: any }[]).find((e) => e.detail?.step === 'cpe_remove_ipv6');
  assert.equal([step?.type, step?.detail.output], ['STEP_DONE', { status: 'done', reason: 'unknown_to_acs' }]);
});

test('REVIEW8 a pending removal whose CPE is then deleted from GenieACS resolves, PENDING_RESOLVED says unknown_to_acs', async () => {
  const cpe = h.acs.addDevice({ mode: 'unreachable' });
  await h.run.call('POST', 'allocate', { subscriber_id: 'gone-2' });
  await h.run.call('POST', 'activate', { subscriber_id: 'gone-2', username: 'gone-2@isp', cpe_id: cpe.id });
  const revoked = await h.run.call('POST', 'revoke', { subscriber_id: 'gone-2' });
  assert.equal(revoked.body.pending.map((p: { step: string }) => p.step), ['cpe_remove_ipv6']);
  h.acs.deleteDevice(cpe.id);
  h.makeDue('gone-2');
  await h.run.svc.tickPending();
  const after = await h.run.call('GET', 'lifecycle/gone-2');
  assert.equal(after.body.pending, []);
  const { body } = await h.run.call('GET', 'lifecycle/gone-2/events');
  const resolved = (body.events as { type: string; detail: any }[]).find((e) => e.type === 'PENDING_RESOLVED');
  assert.is(resolved?.detail.reason, 'unknown_to_acs', JSON.stringify(resolved));
});

test.run();
