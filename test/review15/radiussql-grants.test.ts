// docs/radius.md says what the service's database login needs (`radius.sql.user`, "Grants"). A
// review wired a login with exactly that and no more: on PostgreSQL the first activate failed with
// "permission denied for table radreply", because the write's `SELECT … FOR UPDATE` needs the UPDATE
// privilege there (MariaDB's needs only SELECT). The grants below are the documented ones, per
// server; the whole lifecycle runs through the API on them, and the NAS of an open session hears
// the suspension, the reactivation and the revocation.
import { createHash } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { mariadbAvailable, mariadbForFreeRadius, sharedMariaDb } from '../support/mariadb.ts';
import { postgresForFreeRadius, psql, radiusPostgresAvailable } from '../support/radius-postgres.ts';

const TOKEN = 'review15-grants-token-0123456789';
const NAS_SECRET = 'review15-nas-secret';
const PASSWORD = `lc-${process.pid}-${Date.now().toString(36)}`;
const USERNAME = 'grants@example.net';

interface Login {
  dialect: 'postgresql' | 'mysql';
  host: string;
  port: number;
  database: string;
  user: string;
  /** SQL as an administrator of that database. */
  admin(sql: string): string;
}

/** A fresh FreeRADIUS database and a login holding only what docs/radius.md lists for PostgreSQL (UPDATE for the row lock). */
async function postgresLogin(): Promise<Login> {
  const s = await postgresForFreeRadius();
  const user = `lc_${s.database}`;
  psql(s.adminUrl, `CREATE ROLE ${user} LOGIN PASSWORD '${PASSWORD}'`);
  psql(s.adminUrl, `GRANT SELECT, INSERT, UPDATE, DELETE ON radreply TO ${user}; GRANT USAGE ON SEQUENCE radreply_id_seq TO ${user}; GRANT SELECT ON radacct TO ${user}`);
  return { dialect: 'postgresql', host: s.host, port: s.port, database: s.database, user, admin: (sql) => psql(s.adminUrl, sql) };
}

/** The same on MariaDB: SELECT, INSERT, DELETE on radreply, SELECT on radacct. */
async function mariadbLogin(): Promise<Login> {
  const s = await mariadbForFreeRadius();
  const db = await sharedMariaDb();
  const user = `lc_${s.database}`.slice(0, 32);
  db.sql(
    `CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'; ` +
      `GRANT SELECT, INSERT, DELETE ON \`${s.database}\`.radreply TO '${user}'@'127.0.0.1'; GRANT SELECT ON \`${s.database}\`.radacct TO '${user}'@'127.0.0.1'`,
  );
  return { dialect: 'mysql', host: s.host, port: s.port, database: s.database, user, admin: s.run };
}

/** A NAS that ACKs every Disconnect-Request and CoA-Request, and keeps their codes. */
async function ackingNas(): Promise<{ socket: Socket; port: number; heard: string[] }> {
  const socket = createSocket('udp4');
  const heard: string[] = [];
  socket.on('message', (m, from) => {
    heard.push(m[0] === 40 ? 'Disconnect-Request' : m[0] === 43 ? 'CoA-Request' : `code ${m[0]}`);
    const answer = Buffer.alloc(20);
    answer[0] = m[0] === 40 ? 41 : 44;
    answer[1] = m[1]!;
    answer.writeUInt16BE(20, 2);
    createHash('md5').update(answer.subarray(0, 4)).update(m.subarray(4, 20)).update(NAS_SECRET).digest().copy(answer, 4);
    socket.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  return { socket, port: socket.address().port, heard };
}

async function lifecycleOn(login: Login): Promise<void> {
  const nas = await ackingNas();
  const dir = mkdtempSync(path.join(tmpdir(), 'review15-grants-'));
  const composed = await compose(
    parseConfig({
      database: path.join(dir, 'lifecycle.sqlite'),
      pools: [{ name: 'p', prefix: '2001:db8:100::/48', prefix_length: 56 }],
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      radius: {
        sql: { backend: login.dialect, host: login.host, port: login.port, database: login.database, user: login.user, password_env: 'LC_DB_PW' },
        dynamic_authorization: { timeout_ms: 500, retries: 1, nas: [{ address: '127.0.0.1', port: nas.port, secret: NAS_SECRET }] },
      },
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, LC_DB_PW: PASSWORD }, overrides: { cpe: null } },
  );
  const http = createServer(composed.app.callback());
  try {
    await composed.start();
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}/api/v1/network/ipv6`;
    const op = async (verb: string, body: Record<string, unknown>) => {
      const res = await fetch(`${origin}/${verb}?wait=10000`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await res.json()) as { state?: string; prefix?: string; last_error?: { message: string } | null; error?: { message: string } };
      assert.ok(res.status < 300, `${verb}: ${res.status} ${JSON.stringify(json.last_error ?? json.error)}`);
      return json;
    };
    const replies = () => login.admin(`SELECT attribute, value FROM radreply WHERE username = '${USERNAME}' ORDER BY id`).trim();

    const { prefix } = await op('allocate', { subscriber_id: 'g1' });
    assert.is((await op('activate', { subscriber_id: 'g1', username: USERNAME })).state, 'active');
    assert.is(replies(), `Delegated-IPv6-Prefix\t${prefix}`);
    login.admin(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('G1', 'g1unique', '${USERNAME}', '127.0.0.1', now())`);

    assert.is((await op('suspend', { subscriber_id: 'g1' })).state, 'suspended');
    assert.is(replies(), '');
    assert.is((await op('reactivate', { subscriber_id: 'g1' })).state, 'active');
    assert.is(replies(), `Delegated-IPv6-Prefix\t${prefix}`);
    assert.is((await op('revoke', { subscriber_id: 'g1' })).state, 'revoked');
    assert.is(replies(), '');
    assert.equal(nas.heard, ['Disconnect-Request', 'CoA-Request', 'Disconnect-Request']);
  } finally {
    http.close();
    await composed.stop();
    nas.socket.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const SERVERS = [
  { name: 'PostgreSQL', available: radiusPostgresAvailable, login: postgresLogin },
  { name: 'MariaDB', available: mariadbAvailable, login: mariadbLogin },
];
for (const server of SERVERS) {
  const name = `review15 radius sql: the documented grants run the lifecycle (${server.name})`;
  if (!server.available(name)) continue;
  const test = suite(name);
  test('allocate, activate, suspend, reactivate, revoke as a login with only the documented grants', async () => {
    await lifecycleOn(await server.login());
  });
  test.run();
}
