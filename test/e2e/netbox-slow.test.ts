// A NetBox that serializes allocations and is slow enough that the service's POSTs time out: a POST
// committed after the client gave up must not stay behind as a prefix no lifecycle holds.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { startService, type Running } from './support.ts';

const test = suite('e2e: a slow NetBox leaks nothing');
const N = 60;
let netbox: NetboxServer;
let run: Running;
let parentId = 0;

async function start(netboxConfig: Record<string, unknown>, allocationMs: number): Promise<void> {
  netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), allocationMs });
  parentId = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' }).id;
  run = await startService(
    {
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parentId } }],
      netbox: { url: netbox.url, ...netboxConfig },
      retry: { attempts: 10, base_ms: 20, max_ms: 200 },
    },
    { NETBOX_TOKEN: V1_TOKEN },
  );
}

test.after.each(async () => {
  await run.close();
  await netbox.close();
});

/** NetBox's children of the pool parent, as sorted prefixes. */
const children = () =>
  netbox
    .prefixes()
    .filter((p) => p.id !== parentId)
    .map((p) => p.prefix)
    .sort();

async function livePrefixes(): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < N; i++) {
    const got = await run.call('GET', `lifecycle/slow-${i}`);
    if (got.body.prefix) out.push(got.body.prefix);
  }
  return out.sort();
}

test('allocation POSTs that time out and commit later: the clean-up leaves exactly the live lifecycles\' prefixes', async () => {
  await start({ timeout_ms: 100, allocate_timeout_ms: 100 }, 20);
  await Promise.all(Array.from({ length: N }, (_, i) => run.call('POST', 'allocate', { subscriber_id: `slow-${i}` })));
  await settleAll();
  await netbox.allocationsDone();
  // A lifecycle whose allocation ran out of attempts is retried by an operator once NetBox has caught up.
  for (let i = 0; i < N; i++) {
    const got = await run.call('GET', `lifecycle/slow-${i}`);
    if (got.body.state === 'failed') await run.call('POST', 'retry', { subscriber_id: `slow-${i}` });
  }
  await settleAll();
  await netbox.allocationsDone();
  assert.ok(netbox.created > N, `the test must make NetBox commit duplicates (created ${netbox.created})`);
  await run.svc.cleanup();
  const live = await livePrefixes();
  assert.is(live.length, N, 'every lifecycle ends allocated');
  assert.equal(children(), live, 'NetBox holds exactly the live lifecycles\' prefixes');
  assert.is((await run.call('GET', 'metrics')).body.leaks, 0);
});

test('with the allocation timeout long enough for NetBox\'s lock queue, no POST is repeated', async () => {
  await start({ timeout_ms: 100 }, 20);
  await Promise.all(Array.from({ length: N }, (_, i) => run.call('POST', 'allocate', { subscriber_id: `slow-${i}` })));
  await settleAll();
  await netbox.allocationsDone();
  assert.is(netbox.created, N, 'one POST per lifecycle');
  const live = await livePrefixes();
  assert.is(live.length, N, 'every lifecycle allocated at the first try');
  assert.equal(children(), live);
  assert.is((await run.call('GET', 'metrics')).body.leaks, 0);
});

async function settleAll(): Promise<void> {
  for (let busy = run.svc.store.busy(); busy.length > 0; busy = run.svc.store.busy()) {
    for (const id of busy) await run.svc.host.settle(id, 60_000);
  }
}

test.run();
