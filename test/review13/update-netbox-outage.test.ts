// API.md: an update's "failure rolls back to the old one". With NetBox down past the update's
// retries the rollback's release of the new block failed too and left the lifecycle `failed` at
// netbox_release, though RADIUS and the CPE were back on the old prefix (and, with NetBox down at the
// create, nothing had been created at all). The rollback now ends `active` on the old prefix; the
// new block (if NetBox made one) is given back by a pending step once NetBox answers again, under
// the lifecycle's mark only, kept across a SIGKILL, and the leak check does not count it meanwhile.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review13: a NetBox outage during an update leaves the subscriber active on the old prefix';
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig(['nocreate', 'created'], { tiny: false });
  });
  test.after(() => r.close());
  const mine = (s: string, status: string) => r.held().filter((h) => h.subscriber === s && h.status === status).map((h) => h.prefix);
  const settledPending = async (s: string) => {
    for (let i = 0; i < 100; i++) {
      const l = (await r.call('GET', `lifecycle/${s}`)).body;
      if (l.pending.length === 0) return l;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.unreachable(`the pending release of ${s} never ended`);
  };

  test('NetBox down at the create → 502 rolled back, active on the old prefix; nothing to release once it is back', async () => {
    const old = await r.activeSubscriber('nocreate');
    const before = r.netbox.created;
    r.netbox.setDown(true);
    const got = await r.call('POST', 'update', { subscriber_id: 'nocreate' });
    const during = (await r.call('GET', 'lifecycle/nocreate')).body;
    r.netbox.setDown(false);
    assert.equal([got.status, got.body.error?.code], [502, 'upstream_unavailable'], JSON.stringify(got.body));
    assert.match(got.body.error.message, /^update rolled back at netbox_allocate \(upstream_unavailable\): .*; the subscriber keeps /);
    assert.ok(got.body.error.message.includes(`keeps ${old}`), got.body.error.message);
    assert.equal([during.state, during.prefix, during.failure], ['active', old, null], JSON.stringify(during));
    assert.equal(during.pending.map((p: { step: string }) => p.step), ['netbox_release'], 'the new block is given back later');
    assert.equal([r.radreply('nocreate').map((x) => x.value), r.delegated('nocreate')], [[old], [old]]);
    const after = await settledPending('nocreate');
    assert.equal([after.state, after.prefix, r.netbox.created - before, mine('nocreate', 'active')], ['active', old, 0, [old]]);
  });

  test('NetBox creates the block, the answer is lost, then NetBox is down → active on the old prefix; the block released once, later', async () => {
    const old = await r.activeSubscriber('created');
    const before = r.netbox.created;
    r.netbox.loseAnswers(1, { method: 'POST' });
    const watch = setInterval(() => {
      if (r.netbox.created > before) r.netbox.setDown(true), clearInterval(watch);
    }, 1);
    const got = await r.call('POST', 'update', { subscriber_id: 'created' });
    clearInterval(watch);
    const during = (await r.call('GET', 'lifecycle/created')).body;
    const made = mine('created', 'active').filter((p) => p !== old);
    assert.equal(made.length, 1, 'NetBox holds the new block under our mark');
    assert.equal([got.status, got.body.error?.code], [502, 'upstream_unavailable'], JSON.stringify(got.body));
    assert.ok(got.body.error.message.includes(`keeps ${old}`), got.body.error.message);
    assert.equal([during.state, during.prefix, during.failure], ['active', old, null], JSON.stringify(during));
    assert.equal(r.delegated('created'), [old]);
    // NetBox answers again but refuses the give-back for now: the block is held for the pending step, no leak.
    r.netbox.failNext(1000, { method: 'PATCH', status: 503 });
    r.netbox.setDown(false);
    const leaks = await r.call('POST', 'jobs/leaks');
    assert.equal([leaks.status, leaks.body.counts?.leaked, leaks.body.counts?.reclaimed], [200, 0, 0], JSON.stringify(leaks.body));
    assert.equal(mine('created', 'active').sort(), [old, made[0]].sort(), 'neither reclaimed nor released yet');
    // Crash-safe: the pending release is in the stored snapshot, a SIGKILLed service picks it up again.
    await r.svc.kill();
    await r.svc.start();
    await r.svc.ready();
    r.netbox.clearFaults();
    const after = await settledPending('created');
    assert.equal([after.state, after.prefix, mine('created', 'active')], ['active', old, [old]]);
    assert.equal(r.held().filter((h) => h.prefix === made[0]).map((h) => h.status), ['deprecated'], 'released (held down), not left allocated');
  });

  test.run();
}
