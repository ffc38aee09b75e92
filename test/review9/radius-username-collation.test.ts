// Usernames as an ISP's radreply holds them. On MariaDB, FreeRADIUS's schema compares usernames
// case- and trailing-space-insensitively (the stock collation, PAD SPACE): 'Alice', 'alice' and
// 'alice ' are one RADIUS user there, to FreeRADIUS's lookup and to the service's writes. Two live
// subscribers must not share one such user: the second's activation would replace the first's
// Delegated-IPv6-Prefix, and the first's revocation would delete the second's.
import * as assert from 'uvu/assert';
import { ispSuites } from './radius-support.ts';

for (const test of ispSuites((s) => `review9: usernames one to the database on ${s}`)) {
  test('a second subscriber whose username the database takes for an active one is refused; FreeRADIUS keeps serving the first', async ({ isp }) => {
    isp.peer.addUser('alice', 'pw');
    const mariadb = isp.server.dialect === 'mysql';
    assert.is((await isp.post('allocate', { subscriber_id: 'sub-1' })).status, 201);
    const first = await isp.post('activate', { subscriber_id: 'sub-1', username: 'alice' });
    assert.is(first.body.state, 'active');
    for (const [i, other] of ['Alice', 'alice '].entries()) {
      const sub = `sub-${i + 2}`;
      assert.is((await isp.post('allocate', { subscriber_id: sub })).status, 201);
      const second = await isp.post('activate', { subscriber_id: sub, username: other });
      if (mariadb) {
        assert.equal([second.status, second.body.error?.code], [409, 'username_in_use'], `${JSON.stringify(other)}: ${JSON.stringify(second.body)}`);
      } else {
        // PostgreSQL compares as FreeRADIUS's lookup there does: exactly. Another user, another row.
        assert.is(second.body.state, 'active', JSON.stringify(second.body));
      }
      assert.equal((await isp.ask('alice')).delegated, [first.body.prefix], `${JSON.stringify(other)}: FreeRADIUS still serves sub-1's prefix`);
    }
    // And revoking the others takes nothing of sub-1's.
    for (const sub of ['sub-2', 'sub-3']) await isp.post('revoke', { subscriber_id: sub });
    assert.equal((await isp.ask('alice')).delegated, [first.body.prefix]);
  });

  test.run();
}
