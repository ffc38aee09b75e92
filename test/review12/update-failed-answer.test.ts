// An update that fails for good after its retries leaves the lifecycle `failed`, and the answer is
// 502 "update failed at netbox_release …; POST /retry resumes it" in two opposite situations:
// NetBox down from the new allocation on (the update is rolled back; the rollback's release of the
// new block cannot ask NetBox what it holds) and NetBox refusing the old prefix's release after the
// switch (the subscriber is already on the new prefix). The text was the same, so an orchestrator
// could not tell whether its subscriber moved. The answer now says which: rolled back and the prefix
// it keeps, the prefix it is on and the old one not yet released, or a rollback stopped before
// RADIUS was restored (FreeRADIUS still hands out the new prefix). Checked against NetBox, the
// radreply FreeRADIUS answers from (radclient) and, after POST /retry, one prefix held.
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from './update-rig.ts';

const NAME = 'review12: a failed update says whether the subscriber moved';
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig(['down', 'late', 'half'], { tiny: false });
  });
  test.after(() => r.close());
  const live = (s: string) => r.held().filter((h) => h.subscriber === s && h.status === 'active').map((h) => h.prefix);

  // review13: the rollback's release no longer fails the lifecycle (a pending step gives the block back).
  test('NetBox down from the new allocation on → 502 says rolled back, keeps the old prefix; active on it, one prefix', async () => {
    const old = await r.activeSubscriber('down');
    r.netbox.setDown(true);
    const got = await r.call('POST', 'update', { subscriber_id: 'down' });
    r.netbox.setDown(false);
    assert.equal([got.status, got.body.error?.code], [502, 'upstream_unavailable'], JSON.stringify(got.body));
    assert.match(got.body.error.message, /^update rolled back at netbox_allocate \(upstream_unavailable\): /);
    assert.ok(got.body.error.message.includes(`; the subscriber keeps ${old}`), got.body.error.message);
    assert.equal([r.radreply('down').map((x) => x.value), r.delegated('down'), live('down')], [[old], [old], [old]]);
    const now = (await r.call('GET', 'lifecycle/down')).body;
    assert.equal([now.state, now.prefix], ['active', old], JSON.stringify(now));
  });

  test('NetBox refusing the old prefix back → 502 names the new prefix and the old one held; retry → the old one held down once', async () => {
    const old = await r.activeSubscriber('late');
    r.netbox.failNext(50, { method: 'PATCH', status: 503 });
    const got = await r.call('POST', 'update', { subscriber_id: 'late' });
    r.netbox.clearFaults();
    const now = (await r.call('GET', 'lifecycle/late')).body.prefix as string;
    assert.is.not(now, old);
    assert.equal([got.status, got.body.error?.code], [502, 'upstream_unavailable'], JSON.stringify(got.body));
    assert.ok(got.body.error.message.endsWith(`; the subscriber is on ${now}, its old prefix ${old} is not released yet; POST /retry resumes it`), got.body.error.message);
    assert.equal([r.radreply('late').map((x) => x.value), r.delegated('late')], [[now], [now]]);
    const retried = await r.call('POST', 'retry', { subscriber_id: 'late' });
    assert.equal([retried.status, retried.body.state, retried.body.prefix], [200, 'active', now], JSON.stringify(retried.body));
    assert.equal(live('late'), [now]);
    assert.equal(r.held().filter((h) => h.prefix === old).map((h) => h.status), ['deprecated'], 'the old prefix is held down');
  });

  test('the rollback stopped at RADIUS → 502 says it is not finished and RADIUS may hand out the new prefix; retry → the old one', async () => {
    const old = await r.activeSubscriber('half');
    // The update's RADIUS write goes through; the CPE refuses; radreply fails from the ACS's first request on.
    r.acs.failNext(20, { status: 400, body: 'refused' });
    const db = new Database(r.radius.dbPath);
    const seen = r.acs.requests.length;
    const watch = setInterval(() => {
      if (r.acs.requests.length === seen) return;
      clearInterval(watch);
      db.exec(`CREATE TRIGGER r12_fail BEFORE INSERT ON radreply BEGIN SELECT RAISE(ABORT, 'r12 injected'); END;
        CREATE TRIGGER r12_fail_delete BEFORE DELETE ON radreply BEGIN SELECT RAISE(ABORT, 'r12 injected'); END;`);
    }, 1);
    const got = await r.call('POST', 'update', { subscriber_id: 'half' });
    clearInterval(watch);
    const served = r.delegated('half');
    db.exec('DROP TRIGGER IF EXISTS r12_fail; DROP TRIGGER IF EXISTS r12_fail_delete');
    db.close();
    assert.is(served.length, 1);
    assert.is.not(served[0], old, 'FreeRADIUS still hands out the new prefix');
    assert.equal([got.status, got.body.error?.code], [502, 'upstream_unavailable'], JSON.stringify(got.body));
    assert.match(got.body.error.message, /^update failed at radius_write_reply after \d attempt\(s\): .*; the update was being rolled back at cpe_configure_pd \(upstream_rejected\): /);
    assert.ok(got.body.error.message.endsWith(` to ${old} and is not finished, RADIUS may still hand out ${served[0]}; POST /retry resumes it`), got.body.error.message);
    const retried = await r.call('POST', 'retry', { subscriber_id: 'half' });
    assert.equal([retried.status, retried.body.state, retried.body.prefix], [200, 'active', old], JSON.stringify(retried.body));
    assert.equal([r.delegated('half'), live('half')], [[old], [old]]);
  });

  test.run();
}
