// The RADIUS database (MariaDB) is down for longer than the steps' retries during an activation and
// a suspension: both end `failed` at their RADIUS step, nothing is half-written, and once the
// server is back POST /retry finishes each, as a real FreeRADIUS then answers.
import * as assert from 'uvu/assert';
import { sharedMariaDb } from '../support/mariadb.ts';
import { ispSuites } from './radius-support.ts';

for (const test of ispSuites((s) => `review9: RADIUS database down past the retries on ${s}`, {}, 'MariaDB')) {
  test('activate and suspend fail at their RADIUS step; POST /retry after the server is back finishes both', async ({ isp }) => {
    const db = await sharedMariaDb();
    for (const u of ['down-a', 'down-s']) {
      isp.peer.addUser(u, 'pw');
      assert.is((await isp.post('allocate', { subscriber_id: u })).status, 201);
    }
    const s = await isp.post('activate', { subscriber_id: 'down-s', username: 'down-s' });
    assert.equal((await isp.ask('down-s')).delegated, [s.body.prefix]);
    const before = isp.rows('SELECT id, username, attribute, op, value FROM radreply ORDER BY id');

    await db.kill();
    let up = false;
    try {
      const a = await isp.post('activate', { subscriber_id: 'down-a', username: 'down-a' });
      const d = await isp.post('suspend', { subscriber_id: 'down-s' });
      const states = [(await isp.get('lifecycle/down-a')).body, (await isp.get('lifecycle/down-s')).body].map((l) => [l.state, l.failure?.step, l.failure?.code]);
      assert.equal(states, [['failed', 'radius_write_reply', 'upstream_unavailable'], ['failed', 'radius_remove_reply', 'upstream_unavailable']], JSON.stringify([a.body, d.body]));
      await db.start();
      up = true;
      assert.equal(isp.rows('SELECT id, username, attribute, op, value FROM radreply ORDER BY id'), before, 'nothing half-written');
      const ra = await isp.post('retry', { subscriber_id: 'down-a' });
      const rs = await isp.post('retry', { subscriber_id: 'down-s' });
      assert.equal([ra.body.state, rs.body.state], ['active', 'suspended'], JSON.stringify([ra.body, rs.body]));
      assert.equal([(await isp.ask('down-a')).delegated, (await isp.ask('down-s')).delegated], [[ra.body.prefix], []]);
    } finally {
      if (!up) await db.start();
    }
  });

  test.run();
}
