// Review 8: a returned CPE an operator deleted from GenieACS. At revocation the NBI answers
// `404 No such device`: there is nothing to remove IPv6 from, so the revocation must finish, and
// its audit trail must say why the CPE step did nothing.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { withContext } from '../support/lifecycle-rows.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('REVIEW8 revocation of a CPE the ACS no longer knows');
let acs: GenieacsNbi;
let run: Running;

test.before.each(async () => {
  acs = await startGenieacsNbi();
  run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 }, runtime: { pending_interval_ms: 60_000 } });
});
test.after.each(async () => {
  await run.close();
  await acs.close();
});

test('REVIEW8 the CPE was deleted from GenieACS: revoke ends revoked with nothing pending, audit says unknown_to_acs', async () => {
  const cpe = acs.addDevice();
  await run.call('POST', 'allocate', { subscriber_id: 'gone-1' });
  const active = await run.call('POST', 'activate', { subscriber_id: 'gone-1', username: 'gone-1@isp', cpe_id: cpe.id });
  assert.equal([active.body.state, active.body.pending], ['active', []]);
  acs.deleteDevice(cpe.id);
  const revoked = await run.call('POST', 'revoke', { subscriber_id: 'gone-1' });
  assert.equal([revoked.body.state, revoked.body.pending], ['revoked', []], JSON.stringify(revoked.body));
  const { body } = await run.call('GET', 'lifecycle/gone-1/events');
  const step = (body.events as { type: string; detail: any }[]).find((e) => e.detail?.step === 'cpe_remove_ipv6');
  assert.equal([step?.type, step?.detail.output], ['STEP_DONE', { status: 'done', reason: 'unknown_to_acs' }]);
});

test('REVIEW8 a pending removal whose CPE is then deleted from GenieACS resolves, PENDING_RESOLVED says unknown_to_acs', async () => {
  const cpe = acs.addDevice({ mode: 'unreachable' });
  await run.call('POST', 'allocate', { subscriber_id: 'gone-2' });
  await run.call('POST', 'activate', { subscriber_id: 'gone-2', username: 'gone-2@isp', cpe_id: cpe.id });
  const revoked = await run.call('POST', 'revoke', { subscriber_id: 'gone-2' });
  assert.equal(revoked.body.pending.map((p: { step: string }) => p.step), ['cpe_remove_ipv6']);
  acs.deleteDevice(cpe.id);
  run.svc.host.stopAll();
  const row = run.svc.store.latest('gone-2')!;
  const due = withContext(row, (ctx) => (ctx.pending[0]!.next_attempt_at = new Date(0).toISOString()));
  run.svc.store.save({ ...due, next_pending_at: new Date(0).toISOString() }, null);
  await run.svc.tickPending();
  const after = await run.call('GET', 'lifecycle/gone-2');
  assert.equal(after.body.pending, []);
  const { body } = await run.call('GET', 'lifecycle/gone-2/events');
  const resolved = (body.events as { type: string; detail: any }[]).find((e) => e.type === 'PENDING_RESOLVED');
  assert.is(resolved?.detail.reason, 'unknown_to_acs', JSON.stringify(resolved));
});

test.run();
