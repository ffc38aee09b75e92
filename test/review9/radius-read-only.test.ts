// The RADIUS SQL database turns read-only for a while (a failover in progress: MariaDB's
// read_only while a replica is promoted, a PostgreSQL primary demoted to a hot standby) during an
// activation and a revocation. Like a database that is down (test/e2e/radius-sql-outage.test.ts),
// that is a condition to wait out: the steps retry, nothing is half-written, and both operations
// finish once writes are accepted again, as a real FreeRADIUS then answers.
import * as assert from 'uvu/assert';
import { ispSuites, type Isp } from './radius-support.ts';
import { psql } from '../support/radius-postgres.ts';

// About 8 s of retries, longer than the read-only window below.
const CONFIG = { retry: { attempts: 20, base_ms: 100, max_ms: 500 } };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes refused, then accepted again, on the server behind `isp`. */
function readOnly(isp: Isp): { on(): void; off(): void } {
  if (isp.server.dialect === 'mysql') {
    return { on: () => void isp.server.run('SET GLOBAL read_only = 1'), off: () => void isp.server.run('SET GLOBAL read_only = 0') };
  }
  // From the postgres database: a session on the read-only one could not turn it back.
  const admin = (isp.server as unknown as { adminUrl: string }).adminUrl.replace(/\/[^/]+$/, '/postgres');
  const db = isp.server.database;
  // New sessions are read-only; the open ones are ended, as a demotion ends them.
  const reconnect = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${db}' AND pid <> pg_backend_pid()`;
  return {
    on: () => void (psql(admin, `ALTER DATABASE ${db} SET default_transaction_read_only = on`), psql(admin, reconnect)),
    off: () => void (psql(admin, `ALTER DATABASE ${db} RESET default_transaction_read_only`), psql(admin, reconnect)),
  };
}

for (const test of ispSuites((s) => `review9: RADIUS database read-only for a while on ${s}`, CONFIG)) {
  test('an activation and a revocation in the read-only window wait, then finish; FreeRADIUS serves the one and not the other', async ({ isp }) => {
    for (const u of ['ro-a', 'ro-b']) isp.peer.addUser(u, 'pw');
    assert.is((await isp.post('allocate', { subscriber_id: 'ro-a' })).status, 201);
    assert.is((await isp.post('allocate', { subscriber_id: 'ro-b' })).status, 201);
    const b = await isp.post('activate', { subscriber_id: 'ro-b', username: 'ro-b' });
    assert.is(b.body.state, 'active');
    const ro = readOnly(isp);
    ro.on();
    try {
      const activating = isp.post('activate?wait=20000', { subscriber_id: 'ro-a', username: 'ro-a' });
      const revoking = isp.post('revoke?wait=20000', { subscriber_id: 'ro-b' });
      await sleep(1500);
      const during = [(await isp.get('lifecycle/ro-a')).body, (await isp.get('lifecycle/ro-b')).body];
      assert.equal(
        during.map((l) => [l.state, l.failure?.code ?? null]),
        [['allocated', null], ['revoking', null]],
        `still waiting, not failed: ${JSON.stringify(during.map((l) => l.failure))}`,
      );
      assert.equal(isp.rows(`SELECT username, value FROM radreply WHERE attribute = 'Delegated-IPv6-Prefix' ORDER BY id`), [['ro-b', b.body.prefix]]);
      ro.off();
      const [a, gone] = [await activating, await revoking];
      assert.equal([a.status, a.body.state, gone.status, gone.body.state], [200, 'active', 200, 'revoked'], JSON.stringify([a.body, gone.body]));
      assert.equal((await isp.ask('ro-a')).delegated, [a.body.prefix]);
      assert.equal((await isp.ask('ro-b')).delegated, []);
    } finally {
      ro.off();
    }
  });

  test.run();
}
