// POST /import over FreeRADIUS's PostgreSQL or MariaDB where the ISP's records match the field,
// partly match it and conflict with it (radreply against radacct, two users on one prefix, a file
// disagreeing with radreply). The dry run names it all and adopts nothing; the apply adopts exactly
// the clean entries, which FreeRADIUS keeps serving; a second apply is a no-op; RADIUS is never written.
import * as assert from 'uvu/assert';
import { ispSuites, q } from './radius-support.ts';

const P = (n: number) => `2001:db8:0:${n.toString(16)}00::/56`;

for (const test of ispSuites((s) => `review9: an import that half matches the field on ${s}`)) {
  test('dry run, apply, apply again: conflicts named, clean entries adopted once, RADIUS untouched', async ({ isp }) => {
    const t = isp.server.dialect === 'postgresql' ? (s: string) => `'${s}+00'` : (s: string) => q(s);
    const rr = (u: string, p: string) => `(${q(u)}, 'Delegated-IPv6-Prefix', ':=', ${q(p)})`;
    isp.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${[rr('u-1', P(1)), rr('u-2', P(9)), rr('u-3', P(4)), rr('u-5', P(5)), rr('u-6', P(5))].join(', ')}`);
    isp.server.run(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, delegatedipv6prefix)
                    VALUES ('s-3', 'us-3', 'u-3', '192.0.2.10', ${t('2030-01-01 00:00:00')}, ${t('2030-01-01 00:00:00')}, ${q(P(3))}),
                           ('s-1', 'us-1', 'u-1', '192.0.2.10', ${t('2030-01-01 00:00:00')}, ${t('2030-01-01 00:00:00')}, ${q(P(1))})`);
    const dump = () => JSON.stringify([isp.rows('SELECT * FROM radreply ORDER BY id'), isp.rows('SELECT * FROM radacct ORDER BY radacctid')]);
    const field = dump();
    const body = {
      sources: { radius: {}, file: { records: [{ subscriber_id: 'C-1', prefix: P(1), username: 'u-1' }, { subscriber_id: 'C-2', prefix: P(2), username: 'u-2' }] } },
      options: { subscriber_from_username: true },
    };
    const summary = (b: any) => b.entries.map((e: any) => [e.subscriber_id, e.prefix, e.action, e.conflicts.map((c: any) => c.kind).sort().join(',')]).sort();
    const dry = await isp.post('import', body);
    assert.is(dry.status, 200, JSON.stringify(dry.body));
    const expected = [
      ['C-1', P(1), 'adopt', ''],
      ['C-2', P(2), 'conflict', 'two_prefixes'],
      ['C-2', P(9), 'conflict', 'two_prefixes'],
      ['u-3', P(3), 'conflict', 'two_prefixes'],
      ['u-3', P(4), 'conflict', 'two_prefixes'],
      [null, P(5), 'conflict', 'shared_prefix'],
    ];
    assert.equal(summary(dry.body).map((r: unknown[]) => r.slice(0, 3)), expected.map((r) => r.slice(0, 3)).sort(), JSON.stringify(summary(dry.body)));
    assert.equal((await isp.get('lifecycle?limit=10')).body.items, [], 'a dry run adopts nothing');

    const applied = await isp.post('import?dry_run=false', body);
    assert.equal(applied.body.applied, { adopted: 1, failed: [] });
    const c1 = (await isp.get('lifecycle/C-1')).body;
    assert.equal([c1.state, c1.prefix, c1.username], ['active', P(1), 'u-1']);
    const again = await isp.post('import?dry_run=false', body);
    assert.equal(again.body.applied, { adopted: 0, failed: [] });
    assert.equal(summary(again.body).find((r: unknown[]) => r[0] === 'C-1'), ['C-1', P(1), 'adopted', '']);
    assert.is((await isp.get('lifecycle?limit=10')).body.items.length, 1);
    assert.is(dump(), field, 'RADIUS untouched');
    isp.peer.addUser('u-1', 'pw');
    assert.equal((await isp.ask('u-1')).delegated, [P(1)]);
  });

  test.run();
}
