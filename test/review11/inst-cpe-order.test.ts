// Review 11 (inst11): a revocation skips removeIpv6 when a later live lifecycle has the CPE
// (d687883), but "later" was the lifecycle's created_at, not when it was given the CPE. A subscriber
// allocated ahead (provisioned before its CPE is installed) and activated on a CPE handed on from a
// newer lifecycle lost DHCPv6-PD when that newer one was revoked: its removal was sent, the
// holder's configuration undone. Three instances on one PostgreSQL, and one on SQLite.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi } from '../support/genieacs-nbi.ts';
import { startService } from '../e2e/support.ts';
import { cpePosts, on, reviewRig, rig } from '../e2e/instances-review-support.ts';

const test = suite('review11: the CPE belongs to the lifecycle last activated on it, whenever it was allocated');
const up = reviewRig(test);
type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

async function handOn(via: (i: number) => Call, cpeId: string) {
  assert.is((await via(0)('POST', 'allocate?wait=30000', { subscriber_id: 'early' })).status, 201);
  for (const [i, s] of [[1, 'tenant'], [2, 'early']] as const) {
    if (s === 'tenant') assert.is((await via(i)('POST', 'allocate?wait=30000', { subscriber_id: s })).status, 201);
    const a = await via(i)('POST', 'activate?wait=30000', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpeId });
    assert.equal([a.status, a.body?.state], [200, 'active'], JSON.stringify(a.body));
  }
}

test('three instances: early allocated on a, tenant allocated and activated on b, the CPE handed on to early via c; revoke tenant via a → no removal, PD on', async () => {
  if (!(await up())) return;
  const cpe = rig!.acs.addDevice();
  await handOn((i) => on(i).call.bind(on(i)), cpe.id);
  const from = rig!.acs.requests.length;
  const r = await on(0).call('POST', 'revoke?wait=30000', { subscriber_id: 'tenant' });
  assert.equal([r.status, r.body?.state], [200, 'revoked'], JSON.stringify(r.body));
  assert.is(cpePosts(cpe.id, from), 0, 'no removeIpv6 sent for the CPE early now has');
  assert.is(rig!.acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), true);
  // The holder's own revocation still removes it.
  const e = await on(1).call('POST', 'revoke?wait=30000', { subscriber_id: 'early' });
  assert.equal([e.status, e.body?.state], [200, 'revoked'], JSON.stringify(e.body));
  assert.is(rig!.acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), false);
});

test('one instance on SQLite: the same hand-on, revoke tenant → PD on for early', async () => {
  const acs = await startGenieacsNbi();
  const run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 } });
  try {
    const cpe = acs.addDevice();
    await handOn(() => run.call.bind(run) as Call, cpe.id);
    const r = await run.call('POST', 'revoke', { subscriber_id: 'tenant' });
    assert.equal([r.status, r.body?.state], [200, 'revoked']);
    assert.is(acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), true);
  } finally {
    await run.close();
    await acs.close();
  }
});

test('one instance on SQLite: early activated on the handed-on CPE while it is offline → its pending configure stays, not dropped as superseded by tenant', async () => {
  const acs = await startGenieacsNbi();
  const run = await startService({ genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 300 }, runtime: { pending_interval_ms: 200 } });
  try {
    const cpe = acs.addDevice();
    assert.is((await run.call('POST', 'allocate', { subscriber_id: 'early' })).status, 201);
    assert.is((await run.call('POST', 'allocate', { subscriber_id: 'tenant' })).status, 201);
    assert.is((await run.call('POST', 'activate', { subscriber_id: 'tenant', username: 'tenant@isp', cpe_id: cpe.id })).body?.state, 'active');
    acs.setMode(cpe.id, 'offline');
    const a = await run.call('POST', 'activate', { subscriber_id: 'early', username: 'early@isp', cpe_id: cpe.id });
    assert.equal([a.body?.state, a.body?.pending?.length], ['active', 1], JSON.stringify(a.body));
    const events = async () => ((await run.call('GET', 'lifecycle/early/events')).body.events as { type: string; detail: any }[]);
    await new Promise((r) => setTimeout(r, 1500));
    const resolved = (await events()).filter((e) => e.type === 'PENDING_RESOLVED');
    assert.equal(resolved.map((e) => e.detail?.superseded_by ?? null).filter(Boolean), [], `early's configure dropped as superseded: ${JSON.stringify(resolved)}`);
  } finally {
    await run.close();
    await acs.close();
  }
});

test.run();
