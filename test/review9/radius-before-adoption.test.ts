// An ISP points a freshly configured service (defaults everywhere) at the FreeRADIUS database its
// subscribers are served from, with pools covering their prefixes, and has not run the import yet,
// or ran it and left some entries in conflict to decide on. The scheduled reconciliation (hourly by
// default, the same job POST /jobs/reconcile runs) must not take those subscribers' prefixes away:
// nobody here ever served them, and the adoption promises to leave the field untouched.
import * as assert from 'uvu/assert';
import { ispSuites, q } from './radius-support.ts';

const USERS = [
  ['field-1', '2001:db8:0:100::/56'],
  ['field-2', '2001:db8:0:200::/56'],
  // Two users on one prefix: the import names it shared_prefix and adopts neither.
  ['field-3', '2001:db8:0:300::/56'],
  ['field-4', '2001:db8:0:300::/56'],
] as const;

for (const test of ispSuites((s) => `review9: the field before and during its adoption on ${s}`)) {
  test('the reconciliation reports the not-yet-adopted subscribers and takes nothing from them; FreeRADIUS keeps serving them', async ({ isp }) => {
    for (const [u, p] of USERS) {
      isp.peer.addUser(u, 'pw');
      isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES (${q(u)}, 'Delegated-IPv6-Prefix', ':=', ${q(p)})`);
    }
    const served = async () => Promise.all(USERS.map(async ([u]) => (await isp.ask(u)).delegated));
    const all = USERS.map(([, p]) => [p]);
    assert.equal(await served(), all);

    const before = await isp.post('jobs/reconcile');
    assert.is(before.status, 200, JSON.stringify(before.body));
    assert.equal([before.body.counts.radreply_stale, before.body.counts.repaired ?? 0], [4, 0], JSON.stringify(before.body.counts));
    assert.equal(await served(), all, 'before the import');

    const imported = await isp.post('import?dry_run=false', { sources: { radius: {} }, options: { subscriber_from_username: true } });
    assert.equal(imported.body.applied, { adopted: 2, failed: [] }, JSON.stringify(imported.body));
    const after = await isp.post('jobs/reconcile');
    assert.equal([after.body.counts.radreply_stale, after.body.counts.repaired ?? 0], [2, 0], JSON.stringify(after.body.counts));
    assert.equal(await served(), all, 'the entries in conflict keep their service while the operator decides');
    const listed = await isp.get('reconciliation?kind=radreply_stale');
    assert.equal(listed.body.items.map((i: any) => [i.username, i.action, i.detail.state]).sort(), [
      ['field-3', 'reported', 'unknown'],
      ['field-4', 'reported', 'unknown'],
    ]);
  });

  test.run();
}

const OPT_IN = { reconcile: { repair: { radreply_stale_unknown: 'repair' } } };
for (const test of ispSuites((s) => `review9: unknown users' rows removed on request on ${s}`, OPT_IN)) {
  test('an operator who wants them gone says so: reconcile.repair.radreply_stale_unknown repair', async ({ isp }) => {
    isp.peer.addUser('field-9', 'pw');
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('field-9', 'Delegated-IPv6-Prefix', ':=', '2001:db8:0:900::/56'),
      ('field-9', 'Session-Timeout', ':=', '3600')`);
    const run = await isp.post('jobs/reconcile');
    assert.equal([run.body.counts.radreply_stale, run.body.counts.repaired], [1, 1], JSON.stringify(run.body.counts));
    assert.equal((await isp.ask('field-9')).delegated, []);
    assert.equal(isp.rows(`SELECT attribute FROM radreply WHERE username = 'field-9'`), [['Session-Timeout']]);
  });

  test.run();
}
