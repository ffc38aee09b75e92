// Review 8 probes: NetBox behaviours an ISP meets, through the REST API only.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { startService, type Running } from '../e2e/support.ts';

const test = suite('REVIEW8 netbox probes');
let netbox: NetboxServer;
let run: Running;
const post = (op: string, body: unknown) => run.call('POST', op, body);
const get = (path: string) => run.call('GET', path);

async function start(parentPrefix = '2001:db8::/40', opts: { tags?: string[] } = {}) {
  netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), ...opts });
  const parent = netbox.addPrefix({ prefix: parentPrefix, status: 'container' });
  run = await startService(
    {
      pools: [{ name: 'residential', prefix: parentPrefix, prefix_length: 56, netbox: { parent_id: parent.id } }],
      netbox: { url: netbox.url, timeout_ms: 1000 },
    },
    { NETBOX_TOKEN: V1_TOKEN },
  );
}

test.after.each(async () => {
  await run.close();
  await netbox.close();
});

test('REVIEW8 prefix deleted by hand in NetBox before revoke: revoke still finishes', async () => {
  await start();
  const a = await post('allocate', { subscriber_id: 'h1' });
  await post('activate', { subscriber_id: 'h1', username: 'h1@isp' });
  netbox.table.rows.delete(a.body.netbox_prefix_id);
  const r = await post('revoke', { subscriber_id: 'h1' });
  assert.equal([r.status, r.body.state, r.body.failure], [200, 'revoked', null]);
});

test('REVIEW8 pool exhausted in NetBox: 409 pool_exhausted; once space is back, allocate again works', async () => {
  await start('2001:db8::/55');
  assert.is((await post('allocate', { subscriber_id: 'e1' })).status, 201);
  assert.is((await post('allocate', { subscriber_id: 'e2' })).status, 201);
  const x = await post('allocate', { subscriber_id: 'e3' });
  assert.equal([x.status, x.body.error?.code], [409, 'pool_exhausted']);
  // The refused allocation leaves its lifecycle revoked (readable, holding nothing).
  const after = await get('lifecycle/e3');
  assert.equal([after.status, after.body.state, after.body.prefix ?? null], [200, 'revoked', null]);
  assert.equal((await post('revoke', { subscriber_id: 'e1' })).body.state, 'revoked');
  const again = await post('allocate', { subscriber_id: 'e3' });
  assert.is(again.status, 201, JSON.stringify(again.body));
  assert.is(again.body.state, 'allocated');
});

test('REVIEW8 429 with Retry-After on the list: allocate waits and succeeds', async () => {
  await start();
  netbox.failNext(1, { method: 'GET', status: 429, retryAfter: '1' });
  const t0 = Date.now();
  const a = await post('allocate', { subscriber_id: 'r1' });
  assert.is(a.status, 201);
  assert.ok(Date.now() - t0 >= 900);
});

test('REVIEW8 NetBox 400 (tag missing): failure carries no token, says what', async () => {
  await start('2001:db8::/40', { tags: [] });
  const a = await post('allocate', { subscriber_id: 't1' });
  assert.equal([a.status, a.body.error?.code], [409, 'upstream_rejected']);
  assert.match(a.body.error.message, /NetBox POST \/api\/ipam\/prefixes\/\d+\/available-prefixes\/: 400/);
  const l = await get('lifecycle/t1');
  assert.equal([l.body.failure?.step, l.body.failure?.code], ['netbox_allocate', 'upstream_rejected']);
  assert.not.ok(JSON.stringify(a.body).includes(V1_TOKEN));
});

test.run();
