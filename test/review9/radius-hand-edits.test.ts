// Someone edits radreply by hand under active subscribers: a duplicated row, a changed prefix
// (another subscriber's), an extra `+=` row that makes FreeRADIUS answer two prefixes, and a row
// whose attribute is spelled in lower case (FreeRADIUS's dictionary takes any case). One run of the
// reconciliation puts back what each subscriber is served, as a real Access-Request shows, and
// the Prometheus gauge says what is left.
import * as assert from 'uvu/assert';
import { ispSuites, q } from './radius-support.ts';

for (const test of ispSuites((s) => `review9: radreply edited by hand on ${s}`)) {
  test('one run repairs every edited subscriber; FreeRADIUS answers each its own prefix once; the gauge is zero; a second run finds nothing', async ({ isp }) => {
    const users = ['dup', 'changed', 'plus', 'lower'];
    const prefix: Record<string, string> = {};
    for (const u of users) {
      isp.peer.addUser(u, 'pw');
      await isp.post('allocate', { subscriber_id: `sub-${u}` });
      prefix[u] = (await isp.post('activate', { subscriber_id: `sub-${u}`, username: u })).body.prefix;
    }
    const D = 'Delegated-IPv6-Prefix';
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('dup', '${D}', ':=', ${q(prefix.dup!)})`);
    isp.server.run(`UPDATE radreply SET value = ${q(prefix.dup!)} WHERE username = 'changed' AND attribute = '${D}'`);
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('plus', '${D}', '+=', '2001:db8:0:f000::/56')`);
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('lower', 'delegated-ipv6-prefix', '+=', '2001:db8:0:f100::/56')`);
    const answers = async () => Object.fromEntries(await Promise.all(users.map(async (u) => [u, (await isp.ask(u)).delegated.sort()])));
    const edited = await answers();
    assert.equal(edited.changed, [prefix.dup], 'FreeRADIUS serves the changed user the other one\'s prefix');
    assert.is(edited.plus.length, 2);
    assert.is(edited.lower.length, 2, 'the lower-case attribute is served too');

    const run = await isp.post('jobs/reconcile');
    assert.is(run.status, 200, JSON.stringify(run.body));
    assert.equal(await answers(), Object.fromEntries(users.map((u) => [u, [prefix[u]]])), JSON.stringify(run.body.counts));
    const gauge = (await isp.metrics()).split('\n').filter((l) => l.startsWith('ipv6_reconciliation_discrepancies{'));
    assert.ok(gauge.length > 0 && gauge.every((l) => l.endsWith(' 0')), gauge.join('\n'));
    const again = await isp.post('jobs/reconcile');
    assert.equal([again.body.counts.radreply_missing, again.body.counts.radreply_stale, again.body.counts.repaired], [0, 0, 0], JSON.stringify(again.body.counts));
  });

  test('a prefix row whose attribute is spelled in lower case goes with suspend and revoke: FreeRADIUS serves none after either', async ({ isp }) => {
    for (const u of ['lc-s', 'lc-r']) {
      isp.peer.addUser(u, 'pw');
      await isp.post('allocate', { subscriber_id: u });
      const up = await isp.post('activate', { subscriber_id: u, username: u });
      isp.server.run(`UPDATE radreply SET attribute = 'delegated-ipv6-prefix' WHERE username = ${q(u)}`);
      assert.equal((await isp.ask(u)).delegated, [up.body.prefix], 'FreeRADIUS reads the attribute in any case');
    }
    assert.is((await isp.post('suspend', { subscriber_id: 'lc-s' })).body.state, 'suspended');
    assert.is((await isp.post('revoke', { subscriber_id: 'lc-r' })).body.state, 'revoked');
    assert.equal([(await isp.ask('lc-s')).delegated, (await isp.ask('lc-r')).delegated], [[], []]);
  });

  test.run();
}
