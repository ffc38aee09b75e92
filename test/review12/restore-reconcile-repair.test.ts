// Review 12 (restore12): after a restore from an older backup, the reconciliation's default repairs
// rewrote radreply for the 10 subscribers revoked since the backup (service given back to terminated
// subscribers, on prefixes NetBox had deleted or given on) and moved the 5 updated ones back onto
// prefixes NetBox no longer holds for them. It also named nothing for the 5 lifecycles whose prefix
// NetBox holds under another lifecycle's mark (the prefix an updated subscriber moved onto).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { restoredFromOlderBackup, REVOKED, UPDATED, type Restored } from './restore-rig.ts';

const test = suite('review12: reconciliation after a restore from an older backup');
let r: Restored;
test.before(async () => {
  r = await restoredFromOlderBackup();
});
test.after(async () => {
  await r?.close();
});

const stale = [...REVOKED, ...UPDATED];
const items = async () => (await r.call('GET', 'reconciliation?limit=1000')).body.items as { kind: string; subscriber_id: string | null; action: string; detail: any }[];

test('every lifecycle whose prefix IPAM does not hold for it is ipam_missing, none of them would get radreply written', async () => {
  const run = await r.call('POST', 'jobs/reconcile?dry_run=true');
  assert.is(run.status, 200);
  const found = await items();
  const missing = found.filter((i) => i.kind === 'ipam_missing').map((i) => i.subscriber_id).sort();
  assert.equal(missing, [...stale].sort(), 'ipam_missing names the 10 revoked and 5 updated since the backup');
  const written = found.filter((i) => i.kind === 'radreply_missing' && i.action === 'would_repair').map((i) => i.subscriber_id);
  assert.equal(written, [], 'no radreply written for a lifecycle IPAM does not hold the prefix of');
  assert.ok(found.filter((i) => i.kind === 'radreply_missing').length >= stale.length, 'they are still reported');
});

test('the real run writes no radreply row for them: revoked subscribers stay without service', async () => {
  const run = await r.call('POST', 'jobs/reconcile');
  assert.is(run.status, 200);
  assert.is(run.body.counts.repaired, 0, JSON.stringify(run.body.counts));
});

test.run();
