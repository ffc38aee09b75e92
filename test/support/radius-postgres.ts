// FreeRADIUS's PostgreSQL for tests, on the throw-away cluster of postgres.ts: a `radius` login
// with a password checked by scram-sha-256 (the cluster's own trust rule stays for its superuser
// only), and one database per user of it, owned by that login, with FreeRADIUS's schema loaded.
// `run` is psql, synchronous, for the contract suites' back doors.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import type { SqlServer } from './freeradius.ts';
import { PG_BIN, startPostgres, type PgCluster } from './postgres.ts';
import { warnSkipped } from './tools.ts';

export const PG_SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql';
const USER = 'radius';

/** True when PostgreSQL can run; otherwise a failing suite under CI=true, a loud notice elsewhere. */
export function radiusPostgresAvailable(suiteName: string): boolean {
  const r = spawnSync(path.join(PG_BIN, 'initdb'), ['--version'], { stdio: 'ignore' });
  const reason = r.status !== 0 ? `${PG_BIN}/initdb is not installed` : spawnSync('test', ['-f', PG_SCHEMA]).status !== 0 ? `${PG_SCHEMA} is missing` : null;
  if (reason === null) return true;
  if (process.env.CI === 'true') {
    const test = suite(suiteName);
    test('PostgreSQL is required under CI=true', () => {
      throw new Error(`${suiteName}: ${reason}; install postgresql freeradius-postgresql`);
    });
    test.run();
  } else {
    warnSkipped(suiteName, reason, 'apt-get install -y postgresql freeradius-postgresql');
  }
  return false;
}

interface Shared {
  cluster: PgCluster;
  password: string;
  hbaDir: string;
}

let shared: Promise<Shared> | null = null;
let databases = 0;

async function start(): Promise<Shared> {
  // Our own pg_hba.conf: the superuser on trust (the harness's set-up), everyone else by password.
  const hbaDir = mkdtempSync(path.join(tmpdir(), 'radius-pg-hba-'));
  chmodSync(hbaDir, 0o755);
  const hba = path.join(hbaDir, 'pg_hba.conf');
  writeFileSync(hba, 'local all postgres trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n', { mode: 0o644 });
  const cluster = await startPostgres({ hba_file: hba, password_encryption: 'scram-sha-256' });
  const password = `pw-${process.pid}-${Date.now().toString(36)}`;
  psql(cluster.adminUrl, `CREATE ROLE ${USER} LOGIN PASSWORD '${password}'`);
  return { cluster, password, hbaDir };
}

/** One cluster for the test process, stopped when the process has nothing else to do. */
export function sharedRadiusPostgres(): Promise<Shared> {
  if (!shared) {
    shared = start();
    let stopping = false;
    process.on('beforeExit', () => {
      if (stopping) return;
      stopping = true;
      void shared!.then(async (s) => {
        await s.cluster.stop();
        rmSync(s.hbaDir, { recursive: true, force: true });
      });
    });
  }
  return shared;
}

/** A fresh database owned by the `radius` login, with FreeRADIUS's PostgreSQL schema. */
export async function postgresForFreeRadius(): Promise<SqlServer & { adminUrl: string }> {
  const s = await sharedRadiusPostgres();
  const database = `radius_${process.pid}_${++databases}`;
  psql(s.cluster.adminUrl, `CREATE DATABASE ${database} OWNER ${USER}`);
  const url = `postgres://${USER}:${encodeURIComponent(s.password)}@127.0.0.1:${s.cluster.port}/${database}`;
  psqlFile(url, PG_SCHEMA);
  const adminUrl = s.cluster.adminUrl.replace(/\/postgres$/, `/${database}`);
  return { dialect: 'postgresql', host: '127.0.0.1', port: s.cluster.port, database, user: USER, password: s.password, adminUrl, run: (sql) => psql(url, sql) };
}

/** Runs SQL through psql; rows as tab-separated lines. */
export function psql(url: string, sql: string): string {
  const r = spawnSync(path.join(PG_BIN, 'psql'), [url, '-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql: ${r.stderr.trim()}`);
  return r.stdout;
}

function psqlFile(url: string, file: string): void {
  const r = spawnSync(path.join(PG_BIN, 'psql'), [url, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`psql -f ${file}: ${r.stderr.trim()}`);
}
