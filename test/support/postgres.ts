// A throw-away PostgreSQL cluster for tests: Debian's initdb + pg_ctl in a temporary directory,
// listening on 127.0.0.1 only (a free port, trust auth on loopback, no Unix socket outside the
// directory), stopped by its postmaster's PID and the directory removed. PostgreSQL refuses to run
// as root, so under root the server runs as the `postgres` user (Debian's package creates it) or
// `nobody`, owning the directory.
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './soak-service.ts';
import { toolAvailable } from './tools.ts';

/** Where Debian puts the server binaries; PG_BIN overrides (pointed at nothing, shows the skip). */
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
const INSTALL = 'apt-get install postgresql';

/** A running cluster: the superuser's URL to its `postgres` database, its PID, and how to end it. */
export interface PgCluster {
  port: number;
  /** The postmaster running now (another after `restart()`). */
  readonly pid: number;
  dir: string;
  /** postgres://postgres@127.0.0.1:PORT/postgres */
  adminUrl: string;
  /** Creates a fresh database and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** SIGKILL of the postmaster, as a crashed server: its backends are orphaned until they notice. */
  kill(): void;
  /**
   * Starts the postmaster again on the same directory, port and settings (after `kill()`, or a
   * `pg_ctl stop`); retried while the orphaned backends of a killed one still hold the shared memory.
   */
  restart(): Promise<void>;
  /** Fast shutdown by PID (SIGINT), then SIGKILL after 10 s; removes the directory. */
  stop(): Promise<void>;
}

/** Call inside a test: false (with a banner) when initdb is missing; throws instead under CI=true. */
export function postgresAvailable(what: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return toolAvailable(what, join(PG_BIN, 'initdb'), INSTALL, { env });
}

/** The uid/gid to run the server as: ourselves, or an unprivileged account when we are root. */
function serverAccount(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (uid.status === 0 && gid.status === 0) return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` account exists to run PostgreSQL as');
}

function run(binary: string, args: string[], cwd: string, account: { uid: number; gid: number } | undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(PG_BIN, binary), args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], ...account, env: { ...process.env, LC_ALL: 'C' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${binary} ${args.join(' ')} exited ${code}:\n${out}`))));
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// A test that crashes before stop() must not leave a postmaster behind.
const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) if (alive(pid)) process.kill(pid, 'SIGQUIT');
});

/**
 * Starts a cluster. Settings favour speed over durability (fsync off): the data is thrown away.
 * `settings` adds `-c name=value` server options (e.g. max_connections). `durable`: for a test that
 * SIGKILLs the postmaster and then counts what survived, every acknowledged commit on disk first.
 */
export async function startPostgres(settings: Record<string, string | number> = {}, { durable = false } = {}): Promise<PgCluster> {
  const durability: Record<string, string> = durable ? { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' } : {};
  return serve({ ...durability, ...settings }, (data, dir, account) =>
    run('initdb', ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], dir, account).then(() => undefined),
  );
}

/** A running hot standby: read-only until promote() (what a failover makes of it), then a primary. */
export interface PgStandby extends PgCluster {
  /** Ends recovery and waits until the server takes writes. */
  promote(): Promise<void>;
}

/**
 * Starts a hot standby of `primary` (pg_basebackup -R: streaming replication from it, on a port
 * of its own): it serves reads and refuses every write, as the server an address points at after
 * a failover may, until promote().
 */
export async function startStandby(primary: PgCluster, settings: Record<string, string | number> = {}): Promise<PgStandby> {
  // A fast checkpoint: the default spreads it over minutes before the copy starts.
  const cluster = await serve(settings, (data, dir, account) =>
    run('pg_basebackup', ['-D', data, '-R', '-X', 'stream', '-c', 'fast', '-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres', '--no-sync'], dir, account).then(() => undefined),
  );
  const promote = () => run('pg_ctl', ['-D', join(cluster.dir, 'data'), '-w', '-t', '30', 'promote'], cluster.dir, serverAccount()).then(() => undefined);
  return { ...cluster, promote };
}

/** Makes a data directory with `create`, starts a postmaster on it, and returns the cluster. */
async function serve(
  settings: Record<string, string | number>,
  create: (data: string, dir: string, account: ReturnType<typeof serverAccount>) => Promise<void>,
): Promise<PgCluster> {
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), 'pg-'));
  if (account) chownSync(dir, account.uid, account.gid);
  const data = join(dir, 'data');
  const port = await freePort();
  let startOptions = '';
  try {
    await create(data, dir, account);
    const options = {
      listen_addresses: '127.0.0.1',
      port,
      unix_socket_directories: dir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      max_connections: 100,
      ...settings,
    };
    startOptions = Object.entries(options).map(([k, v]) => `-c ${k}=${v}`).join(' ');
    await run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', startOptions, 'start'], dir, account);
  } catch (e) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
    stopPid(readPid(data));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  let pid = readPid(data)!;
  let killed = 0;
  running.add(pid);
  // Someone else's `pg_ctl restart` runs a new postmaster: act on the one postmaster.pid names now.
  const current = (): number => {
    const now = readPid(data);
    if (now !== undefined && now !== pid) {
      running.delete(pid);
      pid = now;
      running.add(pid);
    }
    return pid;
  };
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  return {
    port,
    get pid() {
      return current();
    },
    dir,
    adminUrl,
    kill() {
      if (alive(current())) process.kill((killed = pid), 'SIGKILL');
    },
    async restart() {
      // A SIGKILLed postmaster is gone only a moment later; one we did not kill is already running.
      if (alive(current()) && pid !== killed) return;
      let last: unknown;
      for (let i = 0; i < 40; i++) {
        try {
          await run('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), '-w', '-t', '30', '-o', startOptions, 'start'], dir, account);
          running.delete(pid);
          pid = readPid(data)!;
          running.add(pid);
          return;
        } catch (e) {
          last = e;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      throw new Error(`PostgreSQL did not start again: ${(last as Error).message}`);
    },
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${name}`);
      } finally {
        await client.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      if (alive(current())) process.kill(pid, 'SIGINT');
      const deadline = Date.now() + 10_000;
      while (alive(pid)) {
        if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 50));
      }
      running.delete(pid);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The postmaster's PID: the first line of postmaster.pid. */
function readPid(data: string): number | undefined {
  const file = join(data, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

function stopPid(pid: number | undefined): void {
  if (pid && alive(pid)) process.kill(pid, 'SIGQUIT');
}
