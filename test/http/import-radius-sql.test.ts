// POST /import with sources.radius when FreeRADIUS's database is PostgreSQL or MariaDB: the import
// reads radreply and the open radacct sessions there (it refused the source before), adopts what
// they name, and writes nothing to them.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as assert from 'uvu/assert';
import { radiusSqlSuites } from '../support/radius-sql-service.ts';

for (const test of radiusSqlSuites((server) => `POST /import with FreeRADIUS on ${server}`)) {
  test('radreply rows and open sessions become active lifecycles; a closed session is not read; radreply and radacct stay as they were', async ({ f }) => {
    const t = f.server.dialect === 'postgresql' ? (s: string) => `'${s}+00'` : (s: string) => `'${s}'`;
    f.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('u-1', 'Delegated-IPv6-Prefix', ':=', '2001:db8:0:100::/56'),
                  ('u-2', 'Delegated-IPv6-Prefix', ':=', '2001:db8:0:200::/56'), ('u-2', 'Session-Timeout', ':=', '3600')`);
    f.server.run(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime, delegatedipv6prefix)
                  VALUES ('s-3', 'u-s-3', 'u-3', '192.0.2.10', ${t('2030-01-01 00:00:00')}, NULL, '2001:db8:0:300::/56'),
                         ('s-4', 'u-s-4', 'u-4', '192.0.2.10', ${t('2030-01-01 00:00:00')}, ${t('2030-01-01 01:00:00')}, '2001:db8:0:400::/56')`);
    const dump = () => JSON.stringify([f.rows('SELECT * FROM radreply ORDER BY id'), f.rows('SELECT * FROM radacct ORDER BY radacctid')]);
    const before = dump();

    const server = createServer(f.composed.app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const res = await fetch(`${origin}/api/v1/network/ipv6/import?dry_run=false`, {
        method: 'POST',
        headers: { authorization: 'Bearer radius-sql-token', 'content-type': 'application/json' },
        body: JSON.stringify({
          sources: { radius: {}, file: { records: [{ subscriber_id: 'C-1', prefix: '2001:db8:0:100::/56', username: 'u-1' }] } },
          options: { subscriber_from_username: true },
        }),
      });
      const body = (await res.json()) as any;
      assert.is(res.status, 200, JSON.stringify(body));
      assert.equal(body.entries.map((e: any) => [e.subscriber_id, e.prefix, e.username, e.state, e.sources, e.action]), [
        ['C-1', '2001:db8:0:100::/56', 'u-1', 'active', ['file', 'radreply'], 'adopt'],
        ['u-2', '2001:db8:0:200::/56', 'u-2', 'active', ['radreply'], 'adopt'],
        ['u-3', '2001:db8:0:300::/56', 'u-3', 'active', ['radacct'], 'adopt'],
      ]);
      assert.equal(body.applied, { adopted: 3, failed: [] });
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    const c1 = await f.composed.service.get('C-1');
    assert.equal([c1.state, c1.username, c1.prefix], ['active', 'u-1', '2001:db8:0:100::/56']);
    assert.is(dump(), before, 'RADIUS untouched');
  });

  test.run();
}
