import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { genieacsConfigSchema } from '../../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../../services/genieacs/genieacs.ts';
import type { CpePort } from '../../../services/genieacs/port.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../../support/genieacs-nbi.ts';

// connection_request: false — every task waits for the CPE's periodic inform, so the NBI only ever
// answers 202 and a repeat call has to look at /tasks and the device to tell queued from done.
const test = suite('GenieACS without connection requests');
const ctx: { nbi: GenieacsNbi | null; cpe: CpePort | null } = { nbi: null, cpe: null };

test.before.each(async () => {
  ctx.nbi = await startGenieacsNbi();
  ctx.cpe = createGenieacsCpe(genieacsConfigSchema.parse({ url: ctx.nbi.url, connection_request: false }), pino({ level: 'silent' }));
});
test.after.each(async () => {
  await ctx.nbi?.close();
});

const nbi = () => ctx.nbi!;
const configure = (cpeId: string) => ctx.cpe!.configurePd({ key: 'lc-1:configurePd:1', cpeId, prefix: '2001:db8::/56' });
const posts = () => nbi().requests.filter((r) => r.method === 'POST');

test('queued at first; repeated → the held task, not a new one; after the inform → done without a POST', async () => {
  const d = nbi().addDevice();
  const first = await configure(d.id);
  assert.equal(first, { status: 'queued', taskId: nbi().tasks(d.id)[0]!._id });
  assert.is(posts()[0]?.url, `/devices/${encodeURIComponent(d.id)}/tasks`, 'no connection_request, no timeout');
  assert.equal(await configure(d.id), first, 'the same task, so its place in the queue is kept');
  assert.is(posts().length, 1);
  nbi().inform(d.id);
  assert.is(nbi().value(d.id, 'Device.DHCPv6.Client.1.Enable'), true);
  assert.equal(await configure(d.id), { status: 'done' });
  assert.is(posts().length, 1);
});

test('a CPE whose parameters already have the values → done, no task', async () => {
  const d = nbi().addDevice();
  for (const p of ['Device.DHCPv6.Client.1.Enable', 'Device.IP.Interface.2.IPv6Enable']) d.params.get(p)!.value = true;
  assert.equal(await configure(d.id), { status: 'done' });
  assert.is(posts().length, 0);
});

test('the held task faulted at the inform → upstream_rejected and the task deleted', async () => {
  const d = nbi().addDevice();
  await configure(d.id);
  nbi().setMode(d.id, 'faulting');
  nbi().inform(d.id);
  assert.is(nbi().faults(d.id).length, 1);
  try {
    await configure(d.id);
    assert.unreachable('expected upstream_rejected');
  } catch (err) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).code, 'upstream_rejected');
    assert.match((err as ServiceError).message, /cwmp\.9005/);
  }
  assert.equal(nbi().tasks(d.id), []);
});

test('an unknown device → not_found on cpe_id', async () => {
  try {
    await configure('00AABB-PDCPE-NOSUCH');
    assert.unreachable('expected not_found');
  } catch (err) {
    assert.is((err as ServiceError).code, 'not_found');
    assert.is((err as ServiceError).field, 'cpe_id');
  }
});

test.run();
