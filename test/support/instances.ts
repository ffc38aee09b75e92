// Several service processes as an operator runs them (`node --import tsx main.ts --config <file>`),
// each on its own loopback port, all from one configuration but for `listen.port`, for the tests
// and the bench of several instances on one PostgreSQL (issue 11). Each process is driven only
// through its REST API; the harness knows its PID, so a test can SIGKILL, SIGSTOP or SIGCONT it and
// tell which instance a lease row names.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './soak-service.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 60_000;
export const INSTANCES_TOKEN = 'instances-test-token-0123456789abcdef';

/** What a call answered: status, parsed JSON (null when the body is not JSON), the Location header. */
export interface Answer {
  status: number;
  body: any;
  location: string | null;
}

/** One service process. */
export interface Instance {
  name: string;
  origin: string;
  port: number;
  /** The PID of the running process; null once it has exited. */
  pid: number | null;
  /** `METHOD /api/v1/network/ipv6/<path>` with the API token; `headers` are added (e.g. Idempotency-Key). */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** Starts the process (again) and resolves once `/readyz` answers 200. */
  start(): Promise<void>;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the exit code. */
  stop(): Promise<number | null>;
  /** SIGSTOP / SIGCONT: the process is frozen (its sockets stay open, nothing runs) or resumes. */
  freeze(): void;
  thaw(): void;
  /** Whether `owner` (a lease row's owner, default `hostname-pid-random`) names this process. */
  owns(owner: string): boolean;
  /** The last lines it wrote at warn and above, for a failure message. */
  warnings(): string[];
}

export interface Fleet {
  instances: Instance[];
  /** The one configuration file every instance reads (then its own port). */
  dir: string;
  /** Every instance's warnings, prefixed with its name, for a failure message. */
  warnings(last?: number): string;
  /** Stops every instance still running (SIGCONT first for a frozen one) and removes the files. */
  close(): Promise<void>;
}

/**
 * Writes `config(i)` (the same for every instance, but `listen` is filled in here) to one file per
 * instance and starts `count` processes with `env` on top of this process's environment. Instances
 * start one after the other, so migrations and start-up recovery run with the others listening.
 */
export async function startFleet(opts: { count: number; config: (dir: string, i: number) => Record<string, unknown>; env?: NodeJS.ProcessEnv }): Promise<Fleet> {
  const dir = mkdtempSync(join(tmpdir(), 'instances-'));
  const instances: Instance[] = [];
  const fleet: Fleet = {
    instances,
    dir,
    warnings: (last = 15) => instances.map((i) => i.warnings().slice(-last).map((l) => `${i.name}: ${l}`).join('\n')).join('\n'),
    async close() {
      await Promise.all(instances.map(async (i) => {
        i.thaw();
        if ((await Promise.race([i.stop(), new Promise((r) => setTimeout(() => r('late'), 10_000))])) === 'late') await i.kill();
      }));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < opts.count; i++) {
      // A free port can be taken by another test between freePort() and the bind: another one then.
      for (let attempt = 1; ; attempt++) {
        const port = await freePort();
        const file = join(dir, `instance-${i}.json`);
        writeFileSync(file, JSON.stringify({ ...opts.config(dir, i), listen: { host: '127.0.0.1', port } }, null, 2));
        const inst = instance(`instance-${String.fromCharCode(97 + i)}`, port, file, { IPV6_LIFECYCLE_API_TOKEN: INSTANCES_TOKEN, ...opts.env });
        try {
          await inst.start();
          instances.push(inst);
          break;
        } catch (e) {
          if (attempt < 3 && /cannot be bound/.test(String(e))) continue;
          instances.push(inst);
          throw e;
        }
      }
    }
  } catch (e) {
    // The instance that did not start says why in the error; the others are stopped.
    await fleet.close();
    throw e;
  }
  return fleet;
}

function instance(name: string, port: number, config: string, env: NodeJS.ProcessEnv): Instance {
  const origin = `http://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  let exited: Promise<number | null> = Promise.resolve(null);
  const warnings: string[] = [];
  // stderr is kept whole (a refused configuration is printed there, not as a log line).
  const keep = (all: boolean) => (text: string) => {
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      if (!all && !/"level":(40|50|60|"(warn|error|fatal)")/.test(line) && !/^\s*(Error|at |node:)/.test(line)) continue;
      warnings.push(line.slice(0, 600));
      if (warnings.length > 400) warnings.splice(0, 100);
    }
  };
  const signal = (sig: NodeJS.Signals) => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, sig);
  };

  const inst: Instance = {
    name,
    origin,
    port,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? (child.pid ?? null) : null;
    },
    async call(method, path, body, headers = {}) {
      const started = Date.now();
      let text: string;
      let res: Response;
      try {
        res = await fetch(`${origin}/api/v1/network/ipv6/${path}`, {
          method,
          headers: { authorization: `Bearer ${INSTANCES_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        text = await res.text();
      } catch (err) {
        // fetch says only "fetch failed"; what failed (refused, reset, a timeout, a malformed answer) is its cause.
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        const why = cause ? ` (${[cause.code, cause.message].filter(Boolean).join(': ')})` : '';
        throw new Error(`${method} ${path} on ${name}: ${(err as Error).message}${why} after ${Date.now() - started} ms`, { cause: err });
      }
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
      return { status: res.status, body: parsed, location: res.headers.get('location') };
    },
    async start() {
      const c = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', config], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      c.stdout!.setEncoding('utf8').on('data', keep(false));
      c.stderr!.setEncoding('utf8').on('data', keep(true));
      exited = new Promise((resolve) => c.once('exit', (code) => resolve(code)));
      let gone = false;
      void exited.then(() => (gone = true));
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (gone) throw new Error(`${name} exited during start-up (code ${c.exitCode}): ${warnings.slice(-8).join('\n')}`);
        const ok = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${name}'s /readyz did not answer 200 within ${START_TIMEOUT_MS} ms: ${warnings.slice(-8).join('\n')}`);
    },
    async kill() {
      signal('SIGKILL');
      await exited;
    },
    async stop() {
      if (inst.pid === null) return child?.exitCode ?? null;
      signal('SIGTERM');
      return exited;
    },
    freeze: () => signal('SIGSTOP'),
    thaw: () => signal('SIGCONT'),
    owns(owner) {
      const pid = child?.pid;
      return pid !== undefined && owner.split(/[^0-9A-Za-z]+/).includes(String(pid));
    },
    warnings: () => [...warnings],
  };
  return inst;
}

/** Polls `check` every `everyMs` until it answers a value other than undefined, or throws after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
