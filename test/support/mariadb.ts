// A throw-away MariaDB for tests: `mariadb-install-db` into a temp dir, `mariadbd` on 127.0.0.1 with
// its own port and socket, run as the unprivileged `mysql` user when we are root (mariadbd refuses
// root), a database and a password user (never --skip-grant-tables: the auth path is under test),
// FreeRADIUS's own mysql schema loaded. Stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import { warnSkipped } from './tools.ts';

export const MYSQL_SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/mysql/schema.sql';

/** A running MariaDB with FreeRADIUS's schema in `database`, reachable as `user`/`password`. */
export interface MariaDbPeer {
  host: '127.0.0.1';
  port: number;
  socket: string;
  database: string;
  user: string;
  password: string;
  pid: number;
  /** Runs SQL as root over the socket (test set-up and back doors); returns tab-separated rows. */
  sql(statement: string): string;
  /** A further database with FreeRADIUS's schema, open to `user`; `run` executes SQL in it. */
  createDatabase(name: string): { database: string; run(statement: string): string };
  /** SIGKILLs the server (a crash), leaving the data directory; `start()` brings it back. */
  kill(): Promise<void>;
  /** Starts the server again on the same port and data directory. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

const BINARIES = ['mariadbd', 'mariadb-install-db', 'mariadb'] as const;

function which(cmd: string): string | null {
  for (const d of [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin']) {
    const full = path.join(d, cmd);
    if (existsSync(full)) return full;
  }
  return null;
}

/** Why MariaDB cannot run here, or null when it can. */
export function mariadbUnavailable(): string | null {
  for (const b of BINARIES) if (!which(b)) return `\`${b}\` is not installed`;
  if (!existsSync(MYSQL_SCHEMA)) return `${MYSQL_SCHEMA} is missing (freeradius-mysql)`;
  return null;
}

/** True when MariaDB can run; otherwise a failing suite under CI=true, a loud notice elsewhere. */
export function mariadbAvailable(suiteName: string): boolean {
  const reason = mariadbUnavailable();
  if (reason === null) return true;
  if (process.env.CI === 'true') {
    const test = suite(suiteName);
    test('MariaDB is required under CI=true', () => {
      throw new Error(`${suiteName}: ${reason}; install mariadb-server freeradius-mysql`);
    });
    test.run();
  } else {
    warnSkipped(suiteName, reason, 'apt-get install -y mariadb-server freeradius-mysql');
  }
  return false;
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const running = new Set<ChildProcess>();
const roots = new Set<string>();
// A test process that ends early (uvu exits on a failed hook) leaves neither a server nor its files.
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL'); // no throw if it is gone already (ESRCH)
  if (process.env.MARIADB_KEEP !== '1') for (const root of roots) rmSync(root, { recursive: true, force: true });
});

/** Installs, starts and provisions a MariaDB in a temp dir. */
export async function startMariaDb(opts: { database?: string; user?: string; password?: string } = {}): Promise<MariaDbPeer> {
  const reason = mariadbUnavailable();
  if (reason) throw new Error(reason);
  const root = mkdtempSync(path.join(tmpdir(), 'ipv6-lifecycle-mariadb-'));
  roots.add(root);
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? spawnSync('id', ['-u', 'mysql'], { encoding: 'utf8' }) : null;
  const ownerIds = owner && owner.status === 0 ? { uid: Number(owner.stdout.trim()), gid: Number(spawnSync('id', ['-g', 'mysql'], { encoding: 'utf8' }).stdout.trim()) } : null;
  if (asRoot && !ownerIds) throw new Error('running as root, but there is no `mysql` user to run mariadbd as');
  if (ownerIds) chownSync(root, ownerIds.uid, ownerIds.gid);
  const datadir = path.join(root, 'data');
  const socket = path.join(root, 'mysqld.sock');
  const errLog = path.join(root, 'error.log');
  const userFlag = ownerIds ? ['--user=mysql'] : [];
  const install = spawnSync(
    which('mariadb-install-db')!,
    ['--no-defaults', `--datadir=${datadir}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...userFlag],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) {
    rmSync(root, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
  }
  const port = await freeTcpPort();
  let child: ChildProcess | null = null;

  const alive = () => child !== null && child.exitCode === null && child.signalCode === null;
  const rootSql = (statement: string) => {
    const r = spawnSync(which('mariadb')!, ['--no-defaults', `--socket=${socket}`, '-uroot', '-N', '-B', '-e', statement], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mariadb: ${r.stderr.trim()}`);
    return r.stdout;
  };
  const start = async () => {
    const fd = openSync(errLog, 'a');
    child = spawn(
      which('mariadbd')!,
      ['--no-defaults', `--datadir=${datadir}`, `--port=${port}`, `--socket=${socket}`, '--bind-address=127.0.0.1', '--skip-name-resolve', `--log-error=${errLog}`, ...userFlag],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    // Not referenced: a test file's process ends when its tests do (shared() stops the server then).
    child.unref();
    running.add(child);
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (!alive()) throw new Error(`mariadbd exited\n${tail(errLog)}`);
      if (spawnSync(which('mariadb')!, ['--no-defaults', `--socket=${socket}`, '-uroot', '-e', 'SELECT 1'], { stdio: 'ignore' }).status === 0) return;
      if (Date.now() > deadline) throw new Error(`mariadbd not ready after 20 s\n${tail(errLog)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || !alive()) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    process.kill(c.pid!, signal);
    const timer = setTimeout(() => alive() && process.kill(c.pid!, 'SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    running.delete(c);
  };

  const database = opts.database ?? 'radius';
  const user = opts.user ?? 'radius';
  const password = opts.password ?? `pw-${process.pid}-${Date.now().toString(36)}`;
  try {
    await start();
    rootSql(
      `CREATE DATABASE \`${database}\`; CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'; ` +
        `CREATE USER '${user}'@'localhost' IDENTIFIED BY '${password}'; ` +
        `GRANT ALL ON \`${database}\`.* TO '${user}'@'127.0.0.1'; GRANT ALL ON \`${database}\`.* TO '${user}'@'localhost';`,
    );
    rootSql(`USE \`${database}\`; ${readFileSync(MYSQL_SCHEMA, 'utf8')}`);
  } catch (err) {
    await halt('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    throw err;
  }

  return {
    host: '127.0.0.1',
    port,
    socket,
    database,
    user,
    password,
    get pid() {
      return child?.pid ?? -1;
    },
    sql: (statement) => rootSql(`USE \`${database}\`; ${statement}`),
    createDatabase(name) {
      rootSql(`CREATE DATABASE \`${name}\`; GRANT ALL ON \`${name}\`.* TO '${user}'@'127.0.0.1'; GRANT ALL ON \`${name}\`.* TO '${user}'@'localhost';`);
      rootSql(`USE \`${name}\`; ${readFileSync(MYSQL_SCHEMA, 'utf8')}`);
      return { database: name, run: (statement) => rootSql(`USE \`${name}\`; ${statement}`) };
    },
    kill: () => halt('SIGKILL'),
    start,
    async stop() {
      await halt('SIGTERM');
      if (process.env.MARIADB_KEEP !== '1') rmSync(root, { recursive: true, force: true });
    },
  };
}

function tail(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-20).join('\n') : '';
}

let sharedPeer: Promise<MariaDbPeer> | null = null;
/**
 * One MariaDB for the whole test process (a start costs about a second), stopped and removed when
 * the process has nothing else to do. Each user clears the tables it uses.
 */
export function sharedMariaDb(): Promise<MariaDbPeer> {
  if (!sharedPeer) {
    sharedPeer = startMariaDb();
    let stopping = false;
    process.on('beforeExit', () => {
      if (stopping) return;
      stopping = true;
      void sharedPeer!.then((p) => p.stop()).catch(() => undefined);
    });
  }
  return sharedPeer;
}

/** A SQL string literal (test data only). */
export const sqlText = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

let databases = 0;
/** A fresh database with FreeRADIUS's schema on the shared MariaDB, as FreeRADIUS's SQL server. */
export async function mariadbForFreeRadius(): Promise<{ dialect: 'mysql'; host: string; port: number; database: string; user: string; password: string; run(sql: string): string }> {
  const db = await sharedMariaDb();
  const { database, run } = db.createDatabase(`radius_fr_${process.pid}_${++databases}`);
  return { dialect: 'mysql', host: db.host, port: db.port, database, user: db.user, password: db.password, run };
}
