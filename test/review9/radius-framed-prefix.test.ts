// An ISP's subscribers already carry their WAN /64 in radreply (Framed-IPv6-Prefix, RFC 3162) beside
// the delegated /56 and other attributes. The lifecycle never carries a WAN /64 (no operation takes
// one), so the service has no value of its own for it: adopting them, reconciling, suspending and
// reactivating must leave the ISP's Framed-IPv6-Prefix row as FreeRADIUS serves it, as every other
// attribute of theirs. With the default configuration (framed_prefix unset).
import * as assert from 'uvu/assert';
import { ispSuites, q } from './radius-support.ts';

const PD = '2001:db8:0:100::/56';
const WAN = '2001:db8:ffff:1::/64';
const FRAMED_IP = 8;
const SESSION_TIMEOUT = 27;
const REPLY_MESSAGE = 18;

for (const test of ispSuites((s) => `review9: the ISP's own Framed-IPv6-Prefix on ${s}`)) {
  test('adopted, reconciled, suspended and reactivated: FreeRADIUS keeps serving the WAN /64 and every other attribute', async ({ isp }) => {
    isp.peer.addUser('isp-a', 'pw');
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES
      ('isp-a', 'Framed-IP-Address', ':=', '192.0.2.55'), ('isp-a', 'Framed-IPv6-Prefix', ':=', ${q(WAN)}),
      ('isp-a', 'Delegated-IPv6-Prefix', ':=', ${q(PD)}), ('isp-a', 'Session-Timeout', ':=', '3600'),
      ('isp-a', 'Reply-Message', '+=', 'hello'), ('isp-a', 'Reply-Message', '+=', 'again')`);
    const theirs = () => isp.rows(`SELECT id, username, attribute, op, value FROM radreply WHERE attribute <> 'Delegated-IPv6-Prefix' ORDER BY id`);
    const before = theirs();
    const served = await isp.ask('isp-a');
    assert.equal([served.code, served.delegated, served.framed], ['Access-Accept', [PD], [WAN]]);
    assert.ok(served.types.includes(FRAMED_IP) && served.types.includes(SESSION_TIMEOUT) && served.types.includes(REPLY_MESSAGE));

    const imported = await isp.post('import?dry_run=false', { sources: { radius: {} }, options: { subscriber_from_username: true } });
    assert.is(imported.status, 200, JSON.stringify(imported.body));
    assert.equal(imported.body.applied, { adopted: 1, failed: [] });

    const run = await isp.post('jobs/reconcile');
    assert.is(run.status, 200, JSON.stringify(run.body));
    const listed = await isp.get('reconciliation');
    assert.equal(listed.body.items.map((i: any) => [i.kind, i.username, i.action]), [], 'an adopted subscriber with a WAN /64 is no difference');
    assert.equal(theirs(), before, 'the reconciliation left the ISP rows as they were');
    assert.equal((await isp.ask('isp-a')).framed, [WAN]);

    assert.is((await isp.post('suspend', { subscriber_id: 'isp-a' })).body.state, 'suspended');
    const suspended = await isp.ask('isp-a');
    assert.equal(suspended.delegated, [], 'suspend withdraws the delegated prefix');
    const whileSuspended = await isp.post('jobs/reconcile');
    assert.equal(whileSuspended.body.counts.radreply_stale, 0, 'the WAN /64 of a suspended subscriber is not ours to judge');
    assert.is((await isp.post('reactivate', { subscriber_id: 'isp-a' })).body.state, 'active');
    const back = await isp.ask('isp-a');
    assert.equal([back.delegated, back.framed], [[PD], [WAN]], 'reactivate restores what suspend withdrew, the WAN /64 included');
    assert.equal(theirs(), before, 'suspend and reactivate left the ISP rows as they were');
  });

  test('activating a subscriber whose username has a WAN /64 keeps it beside the new delegated prefix', async ({ isp }) => {
    isp.peer.addUser('isp-b', 'pw');
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('isp-b', 'Framed-IPv6-Prefix', ':=', ${q(WAN)})`);
    assert.is((await isp.post('allocate', { subscriber_id: 'sub-b' })).status, 201);
    const up = await isp.post('activate', { subscriber_id: 'sub-b', username: 'isp-b' });
    assert.is(up.body.state, 'active', JSON.stringify(up.body));
    const a = await isp.ask('isp-b');
    assert.equal([a.delegated, a.framed], [[up.body.prefix], [WAN]]);
  });

  test.run();
}
