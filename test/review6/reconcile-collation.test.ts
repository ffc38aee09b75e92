// Review 6: the reconciliation on FreeRADIUS's MariaDB, where the schema's collation makes 'bob '
// (a stray trailing space, a sloppy provisioning tool) the same username as 'bob': FreeRADIUS's
// lookup for bob returns both rows. The field reader split them into two users ('bob' and 'bob ',
// comparing lowercase), the reconciliation took 'bob ' for a stale row nobody holds and repaired it
// with removeReply('bob '), which on MySQL deleted bob's own rows too: an active subscriber was left
// without his Delegated-IPv6-Prefix by a repair run. Now the reader groups by the collation's weight.
import * as assert from 'uvu/assert';
import { radiusSqlSuites } from '../support/radius-sql-service.ts';

for (const test of radiusSqlSuites((server) => `review6: reconcile repairs on ${server} leave an active subscriber its reply`)) {
  test('a stray row under a username the database takes for an active user\'s: after a repair run the user still has exactly its own prefix', async ({ f }) => {
    const { service, jobs } = f.composed;
    await service.allocate({ subscriber_id: 'sub-bob' }, 5000);
    await service.activate({ subscriber_id: 'sub-bob', username: 'bob' }, 5000);
    const bob = (await service.get('sub-bob')).prefix!;
    f.server.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ('bob ', 'Delegated-IPv6-Prefix', ':=', '2001:db8:f1::/56')`);
    // What FreeRADIUS answers bob with: its own lookup, `username = 'bob'`, in the database's collation.
    const lookup = () => f.rows(`SELECT value FROM radreply WHERE username = 'bob' AND attribute = 'Delegated-IPv6-Prefix' ORDER BY id`).map((r) => r[0]);

    await jobs.run('reconcile', {});
    assert.equal(lookup(), [bob], 'after the repair run, FreeRADIUS gives bob its prefix and only it');
    const again = await jobs.run('reconcile', {});
    assert.is(again.counts.repaired, 0, 'a second run finds nothing more to repair');
    assert.equal(lookup(), [bob]);
  });

  test.run();
}
