// Review 10: the passwords of the SQL peers. FreeRADIUS's PostgreSQL and MariaDB refusing the login
// (a wrong password by password_env, and by url_env, where it sits URL-encoded in the URL) at
// start-up and in --check-config, and refusing it mid-run (the password changed, the connections
// killed); the PostgreSQL store refusing the URL's password at start and going away mid-run. No
// password, in any of its forms, in an error, an answer or a line of the debug log.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';
import { psql, sharedRadiusPostgres } from '../support/radius-postgres.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';

const RIGHT = 'r10-Right:pa@ss/w%rd';
const WRONG = 'r10-Wrong:pa@ss/w%rd';
const forms = [RIGHT, WRONG].flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]);
const leaks = (text: string) => forms.filter((s) => text.includes(s));
const sqlText = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

const dir = mkdtempSync(join(tmpdir(), 'review10-sql-'));
let n = 0;
/** `--check-config` on `config` with `env`: its stdout and stderr together. */
function checkConfig(config: Record<string, unknown>, env: NodeJS.ProcessEnv): { status: number | null; out: string } {
  const file = join(dir, `c${++n}.json`);
  writeFileSync(file, JSON.stringify({ listen: { port: 0 }, database: join(dir, `c${n}.sqlite`), ...config }));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

/** A login of its own (so that changing its password touches no other test) on a fresh FreeRADIUS database. */
async function ownLogin(backend: (typeof RADIUS_SQL_SERVERS)[number], user: string) {
  const server = await backend.open();
  if (server.dialect === 'postgresql') {
    const { cluster } = await sharedRadiusPostgres();
    const admin = cluster.adminUrl.replace(/\/postgres$/, `/${server.database}`);
    psql(admin, `CREATE ROLE ${user} LOGIN PASSWORD ${sqlText(RIGHT)}; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${user}; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${user}`);
    return {
      server,
      url: (pw: string) => `postgres://${user}:${encodeURIComponent(pw)}@${server.host}:${server.port}/${server.database}`,
      refuse: () => psql(admin, `ALTER ROLE ${user} PASSWORD ${sqlText(WRONG)}; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${user}'`),
    };
  }
  for (const host of ['127.0.0.1', 'localhost']) server.run(`CREATE USER '${user}'@'${host}' IDENTIFIED BY ${sqlText(RIGHT)}; GRANT ALL ON \`${server.database}\`.* TO '${user}'@'${host}'`);
  return {
    server,
    url: (pw: string) => `mysql://${user}:${encodeURIComponent(pw)}@${server.host}:${server.port}/${server.database}`,
    refuse: () => {
      for (const host of ['127.0.0.1', 'localhost']) server.run(`ALTER USER '${user}'@'${host}' IDENTIFIED BY ${sqlText(WRONG)}`);
      for (const id of server.run(`SELECT id FROM information_schema.processlist WHERE user = '${user}'`).split('\n').filter(Boolean)) server.run(`KILL ${id}`);
    },
  };
}

for (const backend of RADIUS_SQL_SERVERS) {
  const title = `review10: RADIUS SQL on ${backend.name} refusing the login: no password anywhere`;
  if (!backend.available(title)) continue;
  const test = suite(title);
  const user = `r10_${backend.name === 'MariaDB' ? 'my' : 'pg'}_${process.pid}`;

  test('a wrong password (password_env, url_env): --check-config and start-up name the setting, never the password', async () => {
    const login = await ownLogin(backend, `${user}_a`);
    const { server } = login;
    const byPassword = { backend: server.dialect, host: server.host, port: server.port, database: server.database, user: `${user}_a`, password_env: 'R10_PW' };
    const byUrl = { backend: server.dialect, url_env: 'R10_URL' };
    for (const [sql, env] of [
      [byPassword, { R10_PW: WRONG }],
      [byUrl, { R10_URL: login.url(WRONG) }],
    ] as const) {
      const checked = checkConfig({ radius: { sql } }, env);
      assert.is(checked.status, 2, checked.out);
      assert.match(checked.out, /radius|sql/i);
      assert.equal(leaks(checked.out), [], `--check-config ${Object.keys(env)[0]}`);
      let message = '';
      const svc = await startService(() => ({ radius: { sql } }), { env }).catch((err: Error) => ((message = String(err.stack)), null));
      await svc?.close();
      assert.ok(message.length > 0, 'start-up refused');
      assert.equal(leaks(message), [], `start-up ${Object.keys(env)[0]}: ${message}`);
    }
    const right = checkConfig({ radius: { sql: byUrl } }, { R10_URL: login.url(RIGHT) });
    assert.is(right.status, 0, right.out);
    assert.equal(leaks(right.out), [], '--check-config with the right URL prints no password');
  });

  test('the login refused mid-run: activations fail, and no password reaches an answer or the log', async () => {
    const login = await ownLogin(backend, `${user}_b`);
    let svc: Service | undefined;
    try {
      svc = await startService(
        () => ({ pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }], radius: { sql: { backend: login.server.dialect, url_env: 'R10_URL', connect_timeout_ms: 2000 } } }),
        { env: { R10_URL: login.url(RIGHT) } },
      );
      const answers: string[] = [];
      for (const id of ['m1', 'm2']) answers.push((await svc.post('allocate', { subscriber_id: id })).text);
      const ok = await svc.post('activate', { subscriber_id: 'm1', username: 'm1@isp.example' });
      assert.is(ok.status, 200, ok.text);
      login.refuse();
      const refused = await svc.post('activate', { subscriber_id: 'm2', username: 'm2@isp.example' });
      assert.ok(refused.status >= 500, refused.text);
      answers.push(refused.text, (await svc.get('lifecycle/m2/events')).text, (await svc.get('/metrics')).text);
      assert.equal(leaks(answers.join('\n')), [], 'answers');
      assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
      assert.ok(svc.logs.some((l) => /authentication|Access denied/i.test(l)), 'the refusal is in the log');
    } finally {
      await svc?.close();
    }
  });
  test.run();
}

const storeTitle = 'review10: the PostgreSQL store refusing the login or going away: no password anywhere';
if (RADIUS_SQL_SERVERS[0]!.available(storeTitle)) {
  const test = suite(storeTitle);
  test('a wrong password in the store URL at start; the login refused and the connections cut mid-run', async () => {
    const { cluster } = await sharedRadiusPostgres();
    const role = `r10_store_${process.pid}`;
    psql(cluster.adminUrl, `CREATE ROLE ${role} LOGIN PASSWORD ${sqlText(RIGHT)}`);
    psql(cluster.adminUrl, `CREATE DATABASE ${role} OWNER ${role}`);
    const url = (pw: string) => `postgres://${role}:${encodeURIComponent(pw)}@127.0.0.1:${cluster.port}/${role}`;
    const config = () => ({ store: { backend: 'postgresql' as const, url_env: 'R10_STORE_URL', pool_max: 2 }, pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }] });
    let message = '';
    const refused = await startService(config, { env: { R10_STORE_URL: url(WRONG) } }).catch((err: Error) => ((message = String(err.stack)), null));
    await refused?.close();
    assert.match(message, /R10_STORE_URL/);
    assert.equal(leaks(message), [], message);
    const svc = await startService(config, { env: { R10_STORE_URL: url(RIGHT) } });
    try {
      const answers = [(await svc.post('allocate', { subscriber_id: 's1' })).text];
      psql(cluster.adminUrl, `ALTER ROLE ${role} PASSWORD ${sqlText(WRONG)}; SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
      const failed = await svc.post('allocate', { subscriber_id: 's2' });
      assert.ok(failed.status >= 500, failed.text);
      answers.push(failed.text, (await svc.get('lifecycle/s1')).text, (await svc.get('/metrics')).text);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(leaks(answers.join('\n')), [], 'answers');
      assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
    } finally {
      await svc.close();
    }
  });
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  test.run();
}
