// The composed service with a pool in NetBox (a local server speaking NetBox's documented API),
// driven through the REST API only, as ISP orchestration drives it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { startService, type Running } from './support.ts';

const test = suite('e2e: lifecycle through the REST API with a NetBox pool');
let netbox: NetboxServer;
let run: Running;
const post = (op: string, body: unknown) => run.call('POST', op, body);
const get = (path: string) => run.call('GET', path);
/** Child prefixes in NetBox under our tag. */
const ours = () => netbox.prefixes().filter((p) => p.tags.includes('ipv6-lifecycle'));

test.before.each(async () => {
  netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  run = await startService(
    {
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
      netbox: { url: netbox.url, timeout_ms: 1000 },
    },
    { NETBOX_TOKEN: V1_TOKEN },
  );
});

test.after.each(async () => {
  await run.close();
  await netbox.close();
});

test('allocate creates the child prefix in NetBox; update moves it; revoke removes it', async () => {
  const a = await post('allocate', { subscriber_id: 'sub-42' });
  assert.is(a.status, 201);
  assert.equal(ours().map((p) => [p.id, p.prefix]), [[a.body.netbox_prefix_id, a.body.prefix]]);
  assert.is(a.body.prefix, '2001:db8::/56');
  assert.is(ours()[0]!.customFields[MARK_FIELDS.lifecycleId], a.body.lifecycle_id);

  assert.is((await post('activate', { subscriber_id: 'sub-42', username: 'alice@example.net' })).body.state, 'active');
  const u = await post('update', { subscriber_id: 'sub-42' });
  assert.is(u.status, 200);
  assert.is.not(u.body.prefix, a.body.prefix);
  assert.equal(ours().map((p) => p.prefix), [u.body.prefix], 'the old prefix is gone from NetBox, the new one is there');

  const r = await post('revoke', { subscriber_id: 'sub-42', reason: 'terminated' });
  assert.equal([r.status, r.body.state], [200, 'revoked']);
  assert.equal(ours(), []);
  const summary = await get('metrics');
  assert.equal([summary.body.leaks, summary.body.pools[0].allocated], [0, 0]);
});

test('a lost answer from NetBox still ends with exactly one prefix for the lifecycle', async () => {
  netbox.loseAnswers(1, { method: 'POST', path: /available-prefixes/ });
  const a = await post('allocate', { subscriber_id: 'sub-lost' });
  assert.is(a.status, 201);
  assert.is(ours().length, 1);
  assert.is(ours()[0]!.prefix, a.body.prefix);
});

test('NetBox down beyond the retry budget → 502 and failed at netbox_allocate; POST /retry once it is back → allocated', async () => {
  netbox.setDown(true);
  const a = await post('allocate', { subscriber_id: 'sub-down' });
  assert.is(a.status, 502);
  assert.is(a.body.error.code, 'upstream_unavailable');
  const failed = await get('lifecycle/sub-down');
  assert.is(failed.body.state, 'failed');
  assert.equal([failed.body.failure.step, failed.body.failure.code], ['netbox_allocate', 'upstream_unavailable']);
  assert.ok(failed.body.failure.attempts >= 2);
  netbox.setDown(false);
  const retried = await post('retry', { subscriber_id: 'sub-down' });
  assert.equal([retried.status, retried.body.state], [200, 'allocated']);
  assert.equal(ours().map((p) => p.prefix), [retried.body.prefix]);
});

test('update with NetBox refusing available-prefixes (503) → rolled back to active on the old prefix, no allocation POST in the rollback', async () => {
  const a = await post('allocate', { subscriber_id: 'sub-u' });
  await post('activate', { subscriber_id: 'sub-u', username: 'u' });
  const posts = () => netbox.requests.filter((r) => r.method === 'POST' && /available-prefixes/.test(r.path)).length;
  const before = posts();
  // More refusals than the retry budget (2): an allocation POST in the rollback would be refused too.
  netbox.failNext(20, { method: 'POST', path: /available-prefixes/ });
  const u = await post('update', { subscriber_id: 'sub-u' });
  assert.is(u.status, 502);
  const after = await get('lifecycle/sub-u');
  assert.equal([after.body.state, after.body.prefix, after.body.failure], ['active', a.body.prefix, null]);
  assert.is(after.body.last_error.step, 'netbox_allocate');
  assert.is(posts() - before, 2, 'the two attempts of the update, none in its rollback');
  assert.equal(ours().map((p) => p.prefix), [a.body.prefix], 'NetBox holds exactly the old prefix');
});

test('revoke with NetBox down → failed at netbox_release, prefix kept; retry → revoked and released', async () => {
  await post('allocate', { subscriber_id: 'sub-r' });
  netbox.setDown(true);
  const r = await post('revoke', { subscriber_id: 'sub-r' });
  assert.is(r.status, 502);
  assert.equal((await get('lifecycle/sub-r')).body.failure.step, 'netbox_release');
  assert.is(ours().length, 1);
  netbox.setDown(false);
  const again = await post('retry', { subscriber_id: 'sub-r' });
  assert.equal([again.status, again.body.state], [200, 'revoked']);
  assert.equal(ours(), []);
});

test.run();
