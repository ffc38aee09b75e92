// The reconciliation on FreeRADIUS's PostgreSQL and MariaDB, as composed: it reads radreply and
// radacct there (not only on SQLite), finds a row without a live lifecycle, a live lifecycle without
// its row and a session carrying another's prefix, repairs what is unambiguous, and a second run
// finds nothing more to do.
import * as assert from 'uvu/assert';
import { radiusSqlSuites } from '../support/radius-sql-service.ts';

for (const test of radiusSqlSuites((server) => `reconcile: radreply and radacct on ${server}`)) {
  test('a row of a revoked lifecycle and a missing row are found and repaired; a row nobody holds and a foreign session reported; a second run changes nothing', async ({ f }) => {
    const { service, jobs } = f.composed;
    for (const s of ['alice', 'bob', 'carol']) {
      await service.allocate({ subscriber_id: `sub-${s}` }, 5000);
      await service.activate({ subscriber_id: `sub-${s}`, username: s }, 5000);
    }
    const prefix = async (s: string) => (await service.get(`sub-${s}`)).prefix!;
    const [alice, bob, carol] = [await prefix('alice'), await prefix('bob'), await prefix('carol')];
    await service.revoke({ subscriber_id: 'sub-bob' }, 5000);
    const replies = () => f.rows(`SELECT username, value FROM radreply WHERE attribute = 'Delegated-IPv6-Prefix' ORDER BY username`);
    assert.equal(replies(), [['alice', alice], ['carol', carol]], 'the lifecycle wrote radreply on the server');

    // What a careless tool leaves: alice's row gone, bob's back after his revocation, a ghost's in
    // our pool, a legacy row outside every pool, and a live session of carol's carrying alice's prefix.
    const now = f.server.dialect === 'postgresql' ? 'now()' : 'NOW()';
    f.server.run(`DELETE FROM radreply WHERE username = 'alice'`);
    f.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('bob', 'Delegated-IPv6-Prefix', ':=', '${bob}'),
                  ('ghost', 'Delegated-IPv6-Prefix', ':=', '2001:db8:f0::/56'), ('legacy', 'Delegated-IPv6-Prefix', ':=', '2001:db9:1::/56')`);
    f.server.run(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, delegatedipv6prefix)
                  VALUES ('c-1', 'u-c-1', 'carol', '192.0.2.1', ${now}, ${now}, '${alice}')`);

    const dry = await jobs.run('reconcile', { dryRun: true });
    assert.equal(dry.counts, { ipam_orphan: 0, ipam_missing: 0, radreply_missing: 1, radreply_stale: 3, session_foreign_prefix: 1, cpe_still_delegating: 0, cpe_not_delegating: 0, repaired: 0, would_repair: 2 });
    assert.equal(replies(), [['bob', bob], ['ghost', '2001:db8:f0::/56'], ['carol', carol], ['legacy', '2001:db9:1::/56']].sort(), 'a dry run writes nothing');
    const session = (dry.items.session_foreign_prefix as { username: string; prefix: string; subscriber_id: string; detail: Record<string, unknown> }[])[0]!;
    assert.equal([session.username, session.prefix, session.subscriber_id, session.detail.nas_ip_address, session.detail.subscriber_prefix], ['carol', alice, 'sub-carol', '192.0.2.1', carol]);

    const real = await jobs.run('reconcile', {});
    assert.equal([real.counts.radreply_missing, real.counts.radreply_stale, real.counts.session_foreign_prefix, real.counts.repaired], [1, 3, 1, 2]);
    // The ghost is nobody's here: reported (reconcile.repair.radreply_stale_unknown defaults to report).
    assert.equal(replies(), [['alice', alice], ['carol', carol], ['ghost', '2001:db8:f0::/56'], ['legacy', '2001:db9:1::/56']], 'alice has her row back; bob\'s is gone; the ghost\'s and the one outside the pools stay');
    const events = await service.events('sub-alice');
    assert.ok(events.some((e) => e.type === 'RECONCILED' && (e.detail as { kind?: string }).kind === 'radreply_missing'), 'the repair is audited');

    const again = await jobs.run('reconcile', {});
    assert.equal([again.counts.radreply_missing, again.counts.radreply_stale, again.counts.repaired], [0, 2, 0]);
    assert.equal(replies(), [['alice', alice], ['carol', carol], ['ghost', '2001:db8:f0::/56'], ['legacy', '2001:db9:1::/56']]);
  });

  test.run();
}
