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
const SYSTEM_SQL_DIR = '/etc/freeradius/3.0/mods-config/sql/main/sqlite';
const SECRET = 'testing123';

/** A running FreeRADIUS: AAA server (auth/acct) and stand-in NAS (coa) on 127.0.0.1. */
export interface FreeRadiusPeer {
  dir: string;
  dbPath: string;
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
  for (const child of running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
});

/** Copies the contract tree, creates the SQLite DB, starts `freeradius -X`, and waits until it answers. */
export async function startFreeRadius(): Promise<FreeRadiusPeer> {
  const found = freeradiusBinary();
  if (!found.ok) throw new Error(found.reason);
  const root = mkdtempSync(path.join(tmpdir(), 'ipv6-lifecycle-freeradius-'));
  const dir = path.join(root, 'raddb');
  cpSync(path.join(contractDir, 'raddb'), dir, { recursive: true });
  const sqlDir = path.join(dir, 'mods-config', 'sql', 'main', 'sqlite');
  mkdirSync(sqlDir, { recursive: true });
  mkdirSync(path.join(dir, 'log'), { recursive: true });
  mkdirSync(path.join(dir, 'run'), { recursive: true });
  for (const f of ['queries.conf', 'schema.sql']) cpSync(path.join(SYSTEM_SQL_DIR, f), path.join(sqlDir, f));

  const dbPath = path.join(dir, 'radius.sqlite');
  const db = new Database(dbPath);
  db.exec(readFileSync(path.join(sqlDir, 'schema.sql'), 'utf8'));
  db.close();

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
      const conn = new Database(dbPath);
      conn.pragma('busy_timeout = 2000');
      conn.prepare(`INSERT INTO radcheck (username, attribute, op, value) VALUES (?, 'Cleartext-Password', ':=', ?)`).run(username, password);
      conn.close();
    },
    stop,
  };
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
