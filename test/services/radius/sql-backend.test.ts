// The PostgreSQL/MariaDB plumbing: configuration rules, start-up refusals that name the setting to
// fix (and never the secret), and which driver faults are retried, against a real MariaDB.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../../config.ts';
import { ServiceError } from '../../../services/errors.ts';
import { checkRadiusBackend, openRadiusReplies } from '../../../services/radius/backends.ts';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { isTransientSqlError } from '../../../services/radius/sql-client.ts';
import type { SqlServer } from '../../support/freeradius.ts';
import { mariadbAvailable, sharedMariaDb, type MariaDbPeer } from '../../support/mariadb.ts';
import { postgresForFreeRadius, radiusPostgresAvailable } from '../../support/radius-postgres.ts';

const log = pino({ level: 'silent' });
const unit = suite('radius.sql: configuration and fault classes');

unit('sqlite needs path; a server backend refuses one and fills in its own schema file', () => {
  assert.throws(() => radiusConfigSchema.parse({ sql: {} }), /sqlite backend needs path/);
  assert.throws(() => radiusConfigSchema.parse({ sql: { backend: 'mysql', path: '/x' } }), /path is for sqlite/);
  const pg = radiusConfigSchema.parse({ sql: { backend: 'postgresql', password_env: 'P' } }).sql;
  assert.is(pg.backend, 'postgresql');
  if (pg.backend === 'sqlite') return;
  assert.is(pg.schema_file, '/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql');
  assert.equal([pg.host, pg.database, pg.user, pg.pool_size, pg.statement_timeout_ms, pg.tls.mode], ['127.0.0.1', 'radius', 'radius', 4, 5000, 'disable']);
});

unit('--check-config and start-up name an unset password_env or url_env', () => {
  const raw = { radius: { sql: { backend: 'mysql', password_env: 'UNSET_DB_PW', url_env: 'UNSET_DB_URL' } } };
  assert.throws(() => parseConfig(raw, {}), (e: Error) => /radius\.sql\.password_env: environment variable UNSET_DB_PW is not set/.test(e.message) && /radius\.sql\.url_env: environment variable UNSET_DB_URL is not set/.test(e.message));
});

unit('lost connections, deadlocks, serialization failures and a read-only server are transient; auth, missing tables and other options are not', () => {
  const yes: [('postgresql' | 'mysql'), object][] = [
    ['postgresql', { code: '40001' }],
    ['postgresql', { code: '40P01' }],
    ['postgresql', { code: '57P01' }],
    ['postgresql', { code: 'ECONNREFUSED' }],
    ['postgresql', new Error('Connection terminated unexpectedly')],
    ['mysql', { code: 'ER_LOCK_DEADLOCK' }],
    ['mysql', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true }],
    ['mysql', { code: 'ECONNRESET' }],
    // Read-only for now (a failover): a demoted primary, read_only, InnoDB read-only mode.
    ['postgresql', { code: '25006' }],
    ['mysql', Object.assign(new Error('The MariaDB server is running with the --read-only option so it cannot execute this statement'), { code: 'ER_OPTION_PREVENTS_STATEMENT' })],
    ['mysql', { code: 'ER_READ_ONLY_MODE' }],
  ];
  const no: [('postgresql' | 'mysql'), object][] = [
    ['postgresql', { code: '28P01' }],
    ['postgresql', { code: '42P01' }],
    ['mysql', { code: 'ER_ACCESS_DENIED_ERROR' }],
    ['mysql', { code: 'ER_NO_SUCH_TABLE' }],
    ['mysql', new Error('syntax')],
    ['mysql', Object.assign(new Error('The MariaDB server is running with the --secure-file-priv option so it cannot execute this statement'), { code: 'ER_OPTION_PREVENTS_STATEMENT' })],
  ];
  for (const [d, e] of yes) assert.ok(isTransientSqlError(d, e), JSON.stringify(e));
  for (const [d, e] of no) assert.not.ok(isTransientSqlError(d, e), JSON.stringify(e));
});
unit.run();

if (mariadbAvailable('radius.sql against MariaDB')) {
  const test = suite<{ db: MariaDbPeer }>('radius.sql against MariaDB', {} as { db: MariaDbPeer });
  test.before(async (ctx) => {
    ctx.db = await sharedMariaDb();
  });
  const cfg = (db: MariaDbPeer, sql: Record<string, unknown> = {}) =>
    radiusConfigSchema.parse({
      sql: { backend: 'mysql', host: db.host, port: db.port, database: db.database, user: db.user, password_env: 'TEST_DB_PW', connect_timeout_ms: 2000, ...sql },
    });
  const refusal = (p: Promise<unknown>): Promise<Error> =>
    p.then(
      () => assert.unreachable('should refuse') as never,
      (e: Error) => e,
    );

  test('a wrong password stops start-up and --check-config, naming the variable and not the password', async ({ db }) => {
    const attempts = [() => openRadiusReplies(cfg(db), log, { TEST_DB_PW: 'not-the-password-xyz' }), () => checkRadiusBackend(cfg(db), log, { TEST_DB_PW: 'not-the-password-xyz' })];
    for (const attempt of attempts) {
      const err = await refusal(attempt());
      assert.match(err.message, /refused the login; check radius\.sql\.user \/ password_env \(TEST_DB_PW\)/);
      assert.not.match(err.message, 'not-the-password-xyz');
    }
  });

  test('--check-config logs in: a wrong password exits 2 naming the variable, the right one prints the configuration', ({ db }) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'check-config-'));
    try {
      const file = path.join(dir, 'radius.yaml');
      writeFileSync(file, `radius:\n  sql: { backend: mysql, host: ${db.host}, port: ${db.port}, database: ${db.database}, user: ${db.user}, password_env: CHECK_DB_PW }\n`);
      const run = (pw: string) =>
        spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, CHECK_DB_PW: pw }, timeout: 30_000 });
      const bad = run('wrong-check-pw');
      assert.is(bad.status, 2, bad.stderr);
      assert.match(bad.stderr, 'refused the login; check radius.sql.user / password_env (CHECK_DB_PW)');
      assert.not.match(bad.stderr + bad.stdout, 'wrong-check-pw');
      const good = run(db.password);
      assert.is(good.status, 0, good.stderr);
      assert.is(JSON.parse(good.stdout).radius.sql.backend, 'mysql');
      assert.not.match(good.stdout, db.password);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a whole URL from url_env works, and its password never shows in an error', async ({ db }) => {
    const good = await openRadiusReplies(cfg(db, { url_env: 'TEST_DB_URL', password_env: undefined }), log, {
      TEST_DB_URL: `mysql://${db.user}:${encodeURIComponent(db.password)}@${db.host}:${db.port}/${db.database}`,
    });
    await good.removeReply({ username: 'url-user' });
    await good.close();
    const err = await refusal(
      openRadiusReplies(cfg(db, { url_env: 'TEST_DB_URL', password_env: undefined }), log, { TEST_DB_URL: `mysql://${db.user}:s3cret-in-url@${db.host}:${db.port}/${db.database}` }),
    );
    assert.match(err.message, /refused the login; check radius\.sql\.url_env \(TEST_DB_URL\)/);
    assert.not.match(err.message, 's3cret-in-url');
  });

  test('a database without FreeRADIUS tables stops start-up, naming them; create_schema makes them from schema.sql', async ({ db }) => {
    db.sql(`DROP DATABASE IF EXISTS empty_radius; CREATE DATABASE empty_radius; GRANT ALL ON empty_radius.* TO '${db.user}'@'127.0.0.1'`);
    const env = { TEST_DB_PW: db.password };
    const err = await refusal(checkRadiusBackend(cfg(db, { database: 'empty_radius' }), log, env));
    assert.match(err.message, /lacks FreeRADIUS's tables radreply, radacct \(create_schema is off\)/);
    const store = await openRadiusReplies(cfg(db, { database: 'empty_radius', create_schema: true }), log, env);
    await store.writeReply({ username: 'fresh', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    await store.close();
    await checkRadiusBackend(cfg(db, { database: 'empty_radius' }), log, env);
  });

  test('the database going away makes writes fail as retryable; once it is back the same store writes again', async ({ db }) => {
    const store = await openRadiusReplies(cfg(db, { statement_timeout_ms: 1000 }), log, { TEST_DB_PW: db.password });
    await store.writeReply({ username: 'bounce', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    await db.kill();
    const err = await store.writeReply({ username: 'bounce', delegatedPrefix: '2001:db8:200::/56', framedPrefix: null }).then(() => null, (e: unknown) => e);
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).retryable, true, (err as Error).message);
    assert.not.match((err as Error).message, db.password);
    await db.start();
    await store.writeReply({ username: 'bounce', delegatedPrefix: '2001:db8:200::/56', framedPrefix: null });
    assert.match(db.sql(`SELECT value FROM radreply WHERE username = 'bounce'`), '2001:db8:200::/56');
    await store.close();
  });

  test.run();
}

if (radiusPostgresAvailable('radius.sql against PostgreSQL')) {
  const test = suite('radius.sql against PostgreSQL');
  const cfg = (db: SqlServer, sql: Record<string, unknown> = {}) =>
    radiusConfigSchema.parse({
      sql: { backend: 'postgresql', host: db.host, port: db.port, database: db.database, user: db.user, password_env: 'TEST_DB_PW', connect_timeout_ms: 2000, ...sql },
    });
  const refusal = (p: Promise<unknown>): Promise<Error> =>
    p.then(
      () => assert.unreachable('should refuse') as never,
      (e: Error) => e,
    );

  test('a wrong password (scram-sha-256) stops start-up, naming the variable and not the password', async () => {
    const db = await postgresForFreeRadius();
    const err = await refusal(openRadiusReplies(cfg(db), log, { TEST_DB_PW: 'not-the-password-pg' }));
    assert.match(err.message, /refused the login; check radius\.sql\.user \/ password_env \(TEST_DB_PW\)/);
    assert.not.match(err.message, 'not-the-password-pg');
  });

  test('missing tables stop start-up and --check-config; create_schema runs FreeRADIUS\'s schema.sql', async () => {
    const db = await postgresForFreeRadius();
    db.run('DROP SCHEMA public CASCADE; CREATE SCHEMA public');
    const env = { TEST_DB_PW: db.password };
    const err = await refusal(checkRadiusBackend(cfg(db), log, env));
    assert.match(err.message, /lacks FreeRADIUS's tables radreply, radacct \(create_schema is off\)/);
    const store = await openRadiusReplies(cfg(db, { create_schema: true }), log, env);
    await store.writeReply({ username: 'fresh', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    await store.close();
    assert.match(db.run(`SELECT value FROM radreply WHERE username = 'fresh'`), '2001:db8:100::/56');
  });

  test('a database that does not exist is named as such', async () => {
    const db = await postgresForFreeRadius();
    const err = await refusal(checkRadiusBackend(cfg(db, { database: 'no_such_db' }), log, { TEST_DB_PW: db.password }));
    assert.match(err.message, /the database does not exist; check radius\.sql\.database/);
  });

  test.run();
}
