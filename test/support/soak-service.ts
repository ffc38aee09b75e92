// The service as an operator runs it, for the soak test: `node --import tsx main.ts --config <file>`
// on a fixed port, started again on the same files after every SIGKILL. Only its HTTP API and the
// files it shares with FreeRADIUS are looked at; its log is kept for the report of a failure.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const START_TIMEOUT_MS = 30_000;

/** A port free right now on loopback; the service binds it on every start, so its clients keep one origin. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface SoakService {
  origin: string;
  /** Starts the process (again) and resolves once `/healthz` answers (a peer may still keep it from being ready). */
  start(): Promise<void>;
  /** Resolves once `/readyz` answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  /** SIGKILL, and waits until the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM, and waits for the exit code. */
  stop(): Promise<number | null>;
  /** Sends `signal` and waits up to `ms` for an exit: its code and signal, or null while it still runs. */
  signal(signal: NodeJS.Signals, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null>;
  /** Lines the processes wrote at warn and above (the last ones), for a failure message. */
  warnings(): string[];
  starts: number;
}

export function soakService(opts: { config: string; port: number; env: NodeJS.ProcessEnv }): SoakService {
  const origin = `http://127.0.0.1:${opts.port}`;
  let child: ChildProcess | null = null;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: 0, signal: null });
  const warnings: string[] = [];
  const keep = (text: string) => {
    for (const line of text.split('\n')) {
      if (!/"level":"(warn|error|fatal)"/.test(line) && !/^\s*(Error|at |node:)/.test(line)) continue;
      warnings.push(line.slice(0, 600));
      if (warnings.length > 400) warnings.splice(0, 100);
    }
  };

  const svc: SoakService = {
    origin,
    starts: 0,
    async start() {
      const c = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', opts.config], { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      svc.starts++;
      c.stdout!.setEncoding('utf8').on('data', keep);
      c.stderr!.setEncoding('utf8').on('data', keep);
      exited = new Promise((resolve) => c.on('exit', (code, signal) => resolve({ code, signal })));
      let gone = false;
      void exited.then(() => (gone = true));
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (Date.now() < deadline) {
        if (gone) throw new Error(`the service exited during start-up: ${warnings.slice(-5).join('\n')}`);
        const ok = await fetch(`${origin}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`the service was not ready within ${START_TIMEOUT_MS} ms: ${warnings.slice(-5).join('\n')}`);
    },
    async ready(timeoutMs = START_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const ok = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
        if (ok) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`/readyz did not answer 200 within ${timeoutMs} ms: ${warnings.slice(-5).join('\n')}`);
    },
    async kill() {
      child?.kill('SIGKILL');
      await exited;
      child = null;
    },
    async stop() {
      if (!child) return null;
      child.kill('SIGTERM');
      const { code } = await exited;
      child = null;
      return code;
    },
    async signal(name, ms) {
      child?.kill(name);
      const ended = await Promise.race([exited, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))]);
      if (ended) child = null;
      return ended;
    },
    warnings: () => [...warnings],
  };
  return svc;
}
