// Starts a real FreeRADIUS 3.2 on loopback from ../shared/contracts/freeradius/raddb, copied to a
// temporary directory (never the system's /etc tree), with free ports, and stops it by PID.
import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { accessSync, constants, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import radius from 'radius';
import { suite } from 'uvu';
import { warnSkipped } from './tools.ts';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const contractDir = path.resolve(repoRoot, '..', 'shared', 'contracts', 'freeradius');
const SYSTEM_SQL_ROOT = '/etc/freeradius/3.0/mods-config/sql/main';
const SYSTEM_SQL_DIR = `${SYSTEM_SQL_ROOT}/sqlite`;
const SECRET = 'testing123';

/**
 * A PostgreSQL or MariaDB server, with FreeRADIUS's schema loaded, for rlm_sql_postgresql /
 * rlm_sql_mysql instead of the SQLite file. `run` executes SQL as an administrator (test set-up).
 */
export interface SqlServer {
  dialect: 'postgresql' | 'mysql';
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  run(sql: string): string;
}

/** A running FreeRADIUS: AAA server (auth/acct) and stand-in NAS (coa) on 127.0.0.1. */
export interface FreeRadiusPeer {
  dir: string;
  /** The SQLite file (empty with a SQL server). */
  dbPath: string;
  /** `radius.sql` for the service, pointing at the same database FreeRADIUS uses. */
  sqlConfig: Record<string, unknown>;
  /** The environment that `sqlConfig` names (the database password). */
  env: Record<string, string>;
  logPath: string;
  secret: string;
  host: '127.0.0.1';
  ports: { auth: number; acct: number; coa: number };
  pid: number;
  /** The `-X` debug output so far. */
  log(): string;
  /** Waits until the debug log matches `re` (FreeRADIUS writes it asynchronously). */
  waitForLog(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Inserts a radcheck Cleartext-Password row so PAP accepts the user. */
  addUser(username: string, password: string): void;
  stop(): Promise<void>;
}

/** Where the binary is, or why FreeRADIUS cannot run here. */
export function freeradiusBinary(): { ok: true; binary: string } | { ok: false; reason: string } {
  // FREERADIUS_BIN pins the binary (or, pointed at nothing, shows what a machine without it does).
  const candidates = process.env.FREERADIUS_BIN
    ? [process.env.FREERADIUS_BIN]
    : [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin'].map((d) => path.join(d, 'freeradius'));
  const binary = candidates.find((c) => {
    try {
      accessSync(c, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!binary) return { ok: false, reason: 'the freeradius binary is not installed' };
  for (const f of ['queries.conf', 'schema.sql']) {
    if (!existsSync(path.join(SYSTEM_SQL_DIR, f))) return { ok: false, reason: `${SYSTEM_SQL_DIR}/${f} is missing` };
  }
  if (!existsSync(path.join(contractDir, 'raddb'))) return { ok: false, reason: `${contractDir}/raddb is missing` };
  return { ok: true, binary };
}

/**
 * True when the peer can run. Otherwise, under CI=true, runs a failing suite named `suiteName`
 * (CI must never pass by skipping); elsewhere prints a loud notice and registers nothing.
 */
export function peerAvailable(suiteName: string): boolean {
  const found = freeradiusBinary();
  if (found.ok) return true;
  if (process.env.CI === 'true') {
    const test = suite(suiteName);
    test('FreeRADIUS is required under CI=true', () => {
      throw new Error(`${suiteName}: ${found.reason}; install freeradius freeradius-utils sqlite3`);
    });
    test.run();
  } else {
    warnSkipped(suiteName, found.reason, 'apt-get install -y freeradius freeradius-utils sqlite3');
  }
  return false;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL'); // no throw if it is gone already (ESRCH)
});

/** Copies the contract tree, creates the SQLite DB, starts `freeradius -X`, and waits until it answers. */
export async function startFreeRadius(opts: { sql?: SqlServer } = {}): Promise<FreeRadiusPeer> {
  const found = freeradiusBinary();
  if (!found.ok) throw new Error(found.reason);
  const server = opts.sql ?? null;
  const root = mkdtempSync(path.join(tmpdir(), 'ipv6-lifecycle-freeradius-'));
  const dir = path.join(root, 'raddb');
  cpSync(path.join(contractDir, 'raddb'), dir, { recursive: true });
  const sqlDir = path.join(dir, 'mods-config', 'sql', 'main', 'sqlite');
  mkdirSync(sqlDir, { recursive: true });
  mkdirSync(path.join(dir, 'log'), { recursive: true });
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  for (const f of ['queries.conf', 'schema.sql']) cpSync(path.join(SYSTEM_SQL_DIR, f), path.join(sqlDir, f));

  let dbPath = '';
  let sqlConfig: Record<string, unknown>;
  const env: Record<string, string> = {};
  if (server) {
    const dialectDir = path.join(dir, 'mods-config', 'sql', 'main', server.dialect);
    mkdirSync(dialectDir, { recursive: true });
    cpSync(path.join(SYSTEM_SQL_ROOT, server.dialect, 'queries.conf'), path.join(dialectDir, 'queries.conf'));
    pointSqlAt(path.join(dir, 'mods-enabled', 'sql'), server);
    uniqueIdAsMd5(path.join(dir, 'sites-enabled', 'pd-auth'));
    env.TEST_RADIUS_DB_PASSWORD = server.password;
    sqlConfig = { backend: server.dialect, host: server.host, port: server.port, database: server.database, user: server.user, password_env: 'TEST_RADIUS_DB_PASSWORD' };
  } else {
    dbPath = path.join(dir, 'radius.sqlite');
    const db = new Database(dbPath);
    db.exec(readFileSync(path.join(sqlDir, 'schema.sql'), 'utf8'));
    db.close();
    sqlConfig = { path: dbPath };
  }

  const ports = await rewritePorts(path.join(dir, 'sites-enabled'));
  const logPath = path.join(dir, 'log', 'debug.log');
  const fd = openSync(logPath, 'a');
  const child = spawn(found.binary, ['-X', '-d', dir], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  if (child.pid === undefined) throw new Error('freeradius did not start');
  writeFileSync(path.join(dir, 'run', 'harness.pid'), `${child.pid}\n`);

  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid!, 'SIGTERM');
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    running.delete(child);
    if (process.env.FREERADIUS_KEEP !== '1') rmSync(root, { recursive: true, force: true });
  };

  try {
    await waitUntil(() => /Ready to process requests/.test(readLog()), 15_000, () => child.exitCode !== null);
    await statusServer('127.0.0.1', ports.auth);
  } catch (err) {
    const tail = readLog().split('\n').slice(-40).join('\n');
    await stop();
    throw new Error(`FreeRADIUS did not become ready: ${(err as Error).message}\n--- debug log tail ---\n${tail}`);
  }

  return {
    dir,
    dbPath,
    sqlConfig,
    env,
    logPath,
    secret: SECRET,
    host: '127.0.0.1',
    ports,
    pid: child.pid,
    log: readLog,
    async waitForLog(re, timeoutMs = 5000) {
      let m: RegExpMatchArray | null = null;
      await waitUntil(() => (m = readLog().match(re)) !== null, timeoutMs, () => false).catch(() => {
        throw new Error(`debug log never matched ${re}`);
      });
      return m!;
    },
    addUser(username, password) {
      if (server) {
        const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
        server.run(`INSERT INTO radcheck (username, attribute, op, value) VALUES (${q(username)}, 'Cleartext-Password', ':=', ${q(password)})`);
        return;
      }
      const conn = new Database(dbPath);
      conn.pragma('busy_timeout = 2000');
      conn.prepare(`INSERT INTO radcheck (username, attribute, op, value) VALUES (?, 'Cleartext-Password', ':=', ?)`).run(username, password);
      conn.close();
    },
    stop,
  };
}

/** Rewrites the copied `sql` module from rlm_sql_sqlite to the server's driver and credentials. */
function pointSqlAt(file: string, server: SqlServer): void {
  const text = readFileSync(file, 'utf8');
  const block = /\tsqlite \{\n[\s\S]*?\n\t\}\n/;
  if (!block.test(text) || !/dialect = "sqlite"/.test(text)) throw new Error(`${file}: expected the sqlite dialect and its block`);
  const connection = [
    `\tserver = "${server.host}"`,
    `\tport = ${server.port}`,
    `\tlogin = "${server.user}"`,
    `\tpassword = "${server.password}"`,
    server.dialect === 'mysql' ? '\tmysql {\n\t\twarnings = auto\n\t}' : '',
  ]
    .filter(Boolean)
    .join('\n');
  writeFileSync(
    file,
    text
      .replace('dialect = "sqlite"', `dialect = "${server.dialect}"`)
      .replace(block, `${connection}\n`)
      .replace(/radius_db = "radius"/, `radius_db = "${server.database}"`),
  );
}

/**
 * The contract tree's Acct-Unique-Session-Id is readable text; the server schemas keep 32
 * characters (MySQL's varchar(32)), sized for the stock acct_unique policy's MD5. Hash it as that does.
 */
function uniqueIdAsMd5(file: string): void {
  const text = readFileSync(file, 'utf8');
  const line = '&Acct-Unique-Session-Id := "%{User-Name}|%{Acct-Session-Id}|%{NAS-IP-Address}"';
  if (!text.includes(line)) throw new Error(`${file}: the Acct-Unique-Session-Id line changed`);
  writeFileSync(file, text.replace(line, '&Acct-Unique-Session-Id := "%{md5:%{User-Name}|%{Acct-Session-Id}|%{NAS-IP-Address}}"'));
}

/** Picks free UDP ports and writes them into every `listen { port = N }` of the copied sites. */
async function rewritePorts(sitesDir: string): Promise<{ auth: number; acct: number; coa: number }> {
  const holders: Socket[] = [];
  const free = async (): Promise<number> => {
    const s = createSocket('udp4');
    holders.push(s);
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return s.address().port;
  };
  const ports: Record<string, number> = {};
  try {
    for (const file of readdirSync(sitesDir)) {
      const full = path.join(sitesDir, file);
      let text = readFileSync(full, 'utf8');
      const blocks = [...text.matchAll(/listen\s*\{[^}]*\}/g)];
      for (const b of blocks) {
        const type = /type\s*=\s*(\w+)/.exec(b[0])?.[1];
        if (!type) continue;
        const port = await free();
        ports[type] = port;
        text = text.replace(b[0], b[0].replace(/port\s*=\s*\d+/, `port = ${port}`));
      }
      writeFileSync(full, text);
    }
  } finally {
    // Held until all are chosen so no two listeners get the same one; FreeRADIUS binds them next.
    for (const s of holders) s.close();
  }
  const { auth, acct, coa } = ports;
  if (!auth || !acct || !coa) throw new Error(`expected auth, acct and coa listeners, found ${Object.keys(ports).join(', ')}`);
  return { auth, acct, coa };
}

async function statusServer(host: string, port: number): Promise<void> {
  // Status-Server (RFC 5997) needs a Message-Authenticator; the package adds a correct one for this code.
  const packet = radius.encode({ code: 'Status-Server', secret: SECRET, identifier: 1, attributes: [] });
  for (let i = 0; i < 50; i++) {
    const answered = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      const t = setTimeout(() => (s.close(), resolve(false)), 200);
      s.on('error', () => undefined);
      s.on('message', () => (clearTimeout(t), s.close(), resolve(true)));
      s.send(packet, port, host);
    });
    if (answered) return;
  }
  throw new Error(`no answer to Status-Server on ${host}:${port}`);
}

async function waitUntil(cond: () => boolean, timeoutMs: number, gaveUp: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (gaveUp()) throw new Error('the process exited');
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
