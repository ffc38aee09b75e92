import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { genieacsConfigSchema, type GenieacsConfigInput } from '../../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../../services/genieacs/genieacs.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../../support/genieacs-nbi.ts';

// A pending step's retry (`pending: true`) with connection requests on, and a device the ACS does
// not know at revocation.
const open: GenieacsNbi[] = [];

async function setup(config: Partial<GenieacsConfigInput> = {}) {
  const nbi = await startGenieacsNbi();
  open.push(nbi);
  const lines: { level: number; msg: string; reason?: string }[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const cpe = createGenieacsCpe(genieacsConfigSchema.parse({ url: nbi.url, ...config }), log, { env: {} });
  const configure = (cpeId: string, pending?: boolean) => cpe.configurePd({ key: 'lc-1:configurePd:1', cpeId, prefix: '2001:db8::/56', ...(pending ? { pending } : {}) });
  const remove = (cpeId: string, pending?: boolean) => cpe.removeIpv6({ key: 'lc-1:removeIpv6:1', cpeId, ...(pending ? { pending } : {}) });
  const posts = () => nbi.requests.filter((r) => r.method === 'POST');
  return { nbi, lines, configure, remove, posts };
}

const retry = suite('GenieACS a pending retry with connection requests');

retry('the task ran at an inform and the CPE is unreachable again → done, no new task', async () => {
  const { nbi, configure, posts } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  assert.is((await configure(d.id)).status, 'queued');
  nbi.inform(d.id);
  nbi.setMode(d.id, 'unreachable');
  assert.equal(await configure(d.id, true), { status: 'done' });
  assert.is(posts().length, 1, 'only the first attempt POSTed');
  assert.equal(nbi.tasks(d.id), [], 'nothing re-queued at the ACS');
});

retry('the task is still held → queued with its id, no second task, one connection request alone', async () => {
  const { nbi, configure, posts } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  const first = await configure(d.id);
  assert.equal(await configure(d.id, true), first);
  assert.equal(posts().map((r) => r.body !== ''), [true, false], 'the task once, then a connection request without a body');
  assert.ok(posts()[1]!.url.includes('connection_request'));
  assert.is(nbi.tasks(d.id).length, 1);
});

retry('the held task faulted at an inform → upstream_rejected and the task deleted', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  await configure(d.id);
  nbi.setMode(d.id, 'faulting');
  nbi.inform(d.id);
  nbi.setMode(d.id, 'unreachable');
  const err = await configure(d.id, true).catch((e: unknown) => e);
  assert.instance(err, ServiceError);
  assert.is((err as ServiceError).code, 'upstream_rejected');
  assert.equal(nbi.tasks(d.id), []);
});

retry('no task held and the values do not hold (it expired) → submitted again', async () => {
  const { nbi, configure, posts } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  await configure(d.id);
  // GenieACS drops a task at its expiry.
  await fetch(`${nbi.url}/tasks/${nbi.tasks(d.id)[0]!._id}`, { method: 'DELETE' });
  nbi.setMode(d.id, 'online');
  assert.equal(await configure(d.id, true), { status: 'done' });
  assert.is(posts().length, 2);
});

retry('a first attempt lists the device\'s tasks (to drop our superseded ones), then POSTs', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  await configure(d.id);
  assert.equal(nbi.requests.map((r) => r.method), ['GET', 'POST']);
});

const unknown = suite('GenieACS removeIpv6 of a device the ACS does not know');

for (const connection_request of [true, false]) {
  unknown(`connection_request ${connection_request}: 404 No such device → done, reason unknown_to_acs, and a warning`, async () => {
    const { nbi, lines, remove } = await setup({ connection_request });
    const d = nbi.addDevice();
    nbi.deleteDevice(d.id);
    assert.equal(await remove(d.id), { status: 'done', reason: 'unknown_to_acs' });
    assert.equal(await remove(d.id, true), { status: 'done', reason: 'unknown_to_acs' }, 'a pending retry too');
    const warned = lines.filter((l) => l.level === 40 && /no such device/i.test(l.msg));
    assert.is(warned.length, 2, JSON.stringify(lines));
  });
}

unknown('configurePd of an unknown device still throws not_found on cpe_id', async () => {
  const { configure } = await setup();
  const err = await configure('00AABB-PDCPE-NOSUCH', true).catch((e: unknown) => e);
  assert.is((err as ServiceError).code, 'not_found');
  assert.is((err as ServiceError).field, 'cpe_id');
});

for (const s of [retry, unknown]) s.after.each(async () => void (await Promise.all(open.splice(0).map((n) => n.close()))));
retry.run();
unknown.run();
