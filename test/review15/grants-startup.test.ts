// A login lacking one of the privileges docs/radius.md "Grants" lists used to pass start-up (which
// only logged in and looked for radreply and radacct) and fail at its first write: on PostgreSQL,
// without UPDATE on radreply, the first activate answered 502 "permission denied for table
// radreply". Start-up and --check-config now refuse it, naming the privilege, the table and
// radius.sql.user, never the password; every missing privilege at once; with exactly the documented
// grants both pass, and the check writes no row.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../config.ts';
import { openRadiusReplies } from '../../services/radius/backends.ts';
import { mariadbAvailable, mariadbForFreeRadius, sharedMariaDb } from '../support/mariadb.ts';
import { postgresForFreeRadius, psql, radiusPostgresAvailable } from '../support/radius-postgres.ts';

const PASSWORD = `gs-${process.pid}-${Date.now().toString(36)}`;
const ENV = { LC_DB_PW: PASSWORD };

interface Grant {
  /** As the error names it. */
  name: string;
  revoke: string;
  grant: string;
}

interface Login {
  dialect: 'postgresql' | 'mysql';
  host: string;
  port: number;
  database: string;
  user: string;
  grants: Grant[];
  /** SQL as an administrator of that database. */
  admin(sql: string): string;
}

async function postgresLogin(): Promise<Login> {
  const s = await postgresForFreeRadius();
  const user = `gs_${s.database}`;
  const admin = (sql: string) => psql(s.adminUrl, sql);
  admin(`CREATE ROLE ${user} LOGIN PASSWORD '${PASSWORD}'`);
  const on = (priv: string, object: string) => ({ name: `${priv} on ${object.replace('SEQUENCE ', 'sequence ')}`, grant: `GRANT ${priv} ON ${object} TO ${user}`, revoke: `REVOKE ${priv} ON ${object} FROM ${user}` });
  const grants = [...['SELECT', 'INSERT', 'DELETE', 'UPDATE'].map((p) => on(p, 'radreply')), on('SELECT', 'radacct'), on('USAGE', 'SEQUENCE radreply_id_seq')];
  for (const g of grants) admin(g.grant);
  return { dialect: 'postgresql', host: s.host, port: s.port, database: s.database, user, grants, admin };
}

async function mariadbLogin(): Promise<Login> {
  const s = await mariadbForFreeRadius();
  const db = await sharedMariaDb();
  const user = `gs_${s.database}`.slice(0, 32);
  db.sql(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${PASSWORD}'`);
  const on = (priv: string, table: string) => ({
    name: `${priv} on ${table}`,
    grant: `GRANT ${priv} ON \`${s.database}\`.${table} TO '${user}'@'127.0.0.1'`,
    revoke: `REVOKE ${priv} ON \`${s.database}\`.${table} FROM '${user}'@'127.0.0.1'`,
  });
  const grants = [...['SELECT', 'INSERT', 'DELETE'].map((p) => on(p, 'radreply')), on('SELECT', 'radacct')];
  for (const g of grants) db.sql(g.grant);
  return { dialect: 'mysql', host: s.host, port: s.port, database: s.database, user, grants, admin: s.run };
}

let dir = '';
let n = 0;
const sqlOf = (login: Login) => ({ backend: login.dialect, host: login.host, port: login.port, database: login.database, user: login.user, password_env: 'LC_DB_PW' });

/** `--check-config` as the operator runs it: exit status and all it printed. */
function checkConfig(login: Login): { status: number | null; out: string } {
  const file = path.join(dir, `c${++n}.json`);
  writeFileSync(file, JSON.stringify({ listen: { port: 0 }, database: path.join(dir, `c${n}.sqlite`), radius: { sql: sqlOf(login) } }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, ...ENV }, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** Start-up's check of the reply backend (compose runs it before anything listens): its error, or '' when it opened. */
async function startUp(login: Login): Promise<string> {
  const config = parseConfig({ database: path.join(dir, 'unused.sqlite'), radius: { sql: sqlOf(login) } });
  try {
    const port = await openRadiusReplies(config.radius!, pino({ level: 'silent' }), ENV);
    await port.close();
    return '';
  } catch (err) {
    return String((err as Error).message);
  }
}

const rowCount = (login: Login) => login.admin(`SELECT count(*) FROM radreply`).trim();

function assertRefused(login: Login, message: string, names: string[], where: string): void {
  assert.ok(message.includes(`radius.sql.user (${login.user}) lacks ${names.join(', ')};`), `${where}: ${message}`);
  assert.not.ok(message.includes(PASSWORD), `${where} prints the password`);
}

const SERVERS = [
  { name: 'PostgreSQL', available: radiusPostgresAvailable, login: postgresLogin },
  { name: 'MariaDB', available: mariadbAvailable, login: mariadbLogin },
];
for (const server of SERVERS) {
  const name = `review15 radius sql: start-up and --check-config refuse a login lacking a grant (${server.name})`;
  if (!server.available(name)) continue;
  const test = suite(name);
  let login: Login;
  test.before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'review15-grants-startup-'));
    login = await server.login();
    login.admin(`INSERT INTO radreply (username, attribute, op, value) VALUES ('other@example.net', 'Framed-Pool', ':=', 'p')`);
  });

  test('with exactly the documented grants start-up and --check-config pass and write nothing', async () => {
    assert.is(await startUp(login), '');
    const checked = checkConfig(login);
    assert.is(checked.status, 0, checked.out);
    assert.is(rowCount(login), '1');
  });

  test('each single grant revoked: both refuse, naming that privilege, its table and radius.sql.user', async () => {
    for (const g of login.grants) {
      login.admin(g.revoke);
      try {
        assertRefused(login, await startUp(login), [g.name], `start-up without ${g.name}`);
        const checked = checkConfig(login);
        assert.is(checked.status, 2, checked.out);
        assertRefused(login, checked.out, [g.name], `--check-config without ${g.name}`);
      } finally {
        login.admin(g.grant);
      }
    }
    assert.is(rowCount(login), '1');
  });

  // All but SELECT on radacct: a MariaDB login holding nothing in the database is refused at log-in.
  test('every grant on radreply revoked: all of them are named at once', async () => {
    const revoked = login.grants.filter((g) => g.name !== 'SELECT on radacct');
    for (const g of revoked) login.admin(g.revoke);
    try {
      assertRefused(login, await startUp(login), revoked.map((g) => g.name), 'start-up without the radreply grants');
    } finally {
      for (const g of revoked) login.admin(g.grant);
    }
    assert.is(await startUp(login), '');
  });

  // An identity column's INSERT draws from its sequence without USAGE on it: a schema made that way
  // (not FreeRADIUS's `serial`) must not be refused for a grant it does not need.
  if (server.name === 'PostgreSQL') {
    test('an identity id column needs no grant on its sequence', async () => {
      const own = await server.login();
      own.admin(`ALTER TABLE radreply ALTER COLUMN id DROP DEFAULT; DROP SEQUENCE radreply_id_seq; ALTER TABLE radreply ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY`);
      assert.is(await startUp(own), '');
      own.admin(`REVOKE UPDATE ON radreply FROM ${own.user}`);
      assertRefused(own, await startUp(own), ['UPDATE on radreply'], 'start-up of the identity schema without UPDATE');
    });
  }

  test.after(() => rmSync(dir, { recursive: true, force: true }));
  test.run();
}
