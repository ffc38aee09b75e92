// Owner affinity of a NetBox pool as configured (pools[].sticky, pools[].hold_down_s), through the
// REST API: a subscriber revoked and allocated again within the hold-down gets its prefix back.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { startService, type Running } from './support.ts';

const test = suite('e2e: owner affinity of a NetBox pool');
let netbox: NetboxServer;
let run: Running;
const post = async (op: string, body: unknown) => {
  const r = await run.call('POST', `${op}?wait=5000`, body);
  assert.ok(r.status < 300, `${op} ${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

async function begin(pool: { sticky?: boolean }): Promise<void> {
  netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  run = await startService(
    {
      // Delete mode, but the pool holds freed prefixes down for an hour.
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, hold_down_s: 3600, ...pool, netbox: { parent_id: parent.id } }],
      netbox: { url: netbox.url, timeout_ms: 1000 },
    },
    { NETBOX_TOKEN: V1_TOKEN },
  );
}

test.after.each(async () => {
  await run.close();
  await netbox.close();
});

test('sticky by default: revoke, allocate again → the same prefix; another subscriber meanwhile gets another', async () => {
  await begin({});
  const first = await post('allocate', { subscriber_id: 'sub-back' });
  await post('activate', { subscriber_id: 'sub-back', username: 'back' });
  assert.is((await post('revoke', { subscriber_id: 'sub-back' })).state, 'revoked');
  assert.is.not((await post('allocate', { subscriber_id: 'sub-other' })).prefix, first.prefix);
  const again = await post('allocate', { subscriber_id: 'sub-back' });
  assert.equal([again.prefix, again.netbox_prefix_id], [first.prefix, first.netbox_prefix_id]);
  assert.is.not(again.lifecycle_id, first.lifecycle_id);
});

test('sticky: false → a fresh prefix after the revocation', async () => {
  await begin({ sticky: false });
  const first = await post('allocate', { subscriber_id: 'sub-fresh' });
  await post('revoke', { subscriber_id: 'sub-fresh' });
  assert.is.not((await post('allocate', { subscriber_id: 'sub-fresh' })).prefix, first.prefix);
});

test.run();
