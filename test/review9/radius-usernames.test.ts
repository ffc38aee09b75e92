// An ISP's usernames as FreeRADIUS's schemas hold them: radreply.username is varchar(64) in all of
// them, while a RADIUS User-Name may be 253 octets and the API takes that much.
import * as assert from 'uvu/assert';
import { ispSuites } from './radius-support.ts';

for (const test of ispSuites((s) => `review9: long usernames on ${s}`)) {
  test('activate with a username longer than radreply.username holds is a 400 naming it; the lifecycle stays allocated, nothing is written', async ({ isp }) => {
    const long = `${'x'.repeat(60)}@example.net`;
    assert.is((await isp.post('allocate', { subscriber_id: 'sub-long' })).status, 201);
    const r = await isp.post('activate', { subscriber_id: 'sub-long', username: long });
    const l = (await isp.get('lifecycle/sub-long')).body;
    assert.equal([r.status, l.state], [400, 'allocated'], JSON.stringify([r.body, l.failure]));
    assert.equal(isp.rows('SELECT COUNT(*) FROM radreply'), [['0']]);
  });

  test.run();
}
