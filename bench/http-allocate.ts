// Allocations (and full lifecycles) through the HTTP API, as a user drives them: the service runs in
// its own process (compose + http/server.ts, the embedded IPAM of the default configuration, log at
// info to /dev/null), a keep-alive client here sends the requests, and the service reports its own
// process.cpuUsage() so the CPU per allocation is the service's alone, not the load generator's.
//   node --import tsx bench/http-allocate.ts <config.json>   the service end (started by the bench)
// A floor beside it, to say where the time goes: the same HTTP stack with the service answering a
// stored allocation at once (BENCH_STUB_ALLOCATE=1); bench/bare-http.ts is the floor under that.
import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDir } from './support.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const API = '/api/v1/network/ipv6';

interface Service {
  port: number;
  cpu(): Promise<NodeJS.CpuUsage>;
  stop(): Promise<void>;
}

/** Starts the service process on `config`; `execArgv` lets the profiler in (`--cpu-prof`). */
export async function startService(config: Record<string, unknown>, dir: string, execArgv: string[] = [], env: Record<string, string> = {}): Promise<Service> {
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config));
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), [file], {
    execArgv: ['--import', 'tsx', ...execArgv],
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`bench service exited with ${code}`)));
  });
  return {
    port,
    cpu: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve((m as { cpu: NodeJS.CpuUsage }).cpu));
        child.send('cpu');
      }),
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One POST; resolves with the status (the body is read and dropped). */
function post(agent: Agent, port: number, path: string, body: unknown): Promise<number> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `${API}/${path}`,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

export interface HttpRun {
  operations: number;
  perSecond: number;
  cpuUsPerOp: number;
  failures: number;
}

/** Runs `steps` (one list of requests per subscriber, in order) with `concurrency` subscribers at a time. */
export async function drive(svc: Service, subscribers: number, concurrency: number, steps: (i: number) => [string, unknown, number][]): Promise<HttpRun> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  let next = 0;
  let failures = 0;
  let operations = 0;
  const before = await svc.cpu();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < subscribers) {
        const i = next++;
        for (const [path, body, expected] of steps(i)) {
          const status = await post(agent, svc.port, path, body);
          operations++;
          if (status !== expected) failures++;
        }
      }
    }),
  );
  const ms = performance.now() - t0;
  const after = await svc.cpu();
  agent.destroy();
  const cpuUs = after.user - before.user + (after.system - before.system);
  return { operations, perSecond: (operations / ms) * 1000, cpuUsPerOp: cpuUs / operations, failures };
}

export const baseConfig = (dir: string) => ({
  database: join(dir, 'lifecycle.sqlite'),
  listen: { host: '127.0.0.1', port: 0 },
  api: { token_env: 'IPV6_LIFECYCLE_API_TOKEN' },
});

/** `n` allocations of distinct subscribers through POST /allocate on the embedded default pool. */
export async function benchHttpAllocate(n: number, concurrency: number, execArgv: string[] = []): Promise<HttpRun> {
  const scratch = scratchDir();
  const svc = await startService(baseConfig(scratch.dir), scratch.dir, execArgv);
  try {
    return await drive(svc, n, concurrency, (i) => [['allocate', { subscriber_id: `sub-${i}` }, 201]]);
  } finally {
    await svc.stop();
    scratch.remove();
  }
}

/**
 * The HTTP stack's floor, with the same client: the service stubbed (every POST /allocate answers
 * the one allocation it made at start, through the same routes, middleware and serialisation: 201
 * with its Location).
 */
export async function benchHttpStack(n: number, concurrency: number, execArgv: string[] = []): Promise<HttpRun> {
  const scratch = scratchDir();
  const svc = await startService(baseConfig(scratch.dir), scratch.dir, execArgv, { BENCH_STUB_ALLOCATE: '1' });
  try {
    await drive(svc, 2000, concurrency, (i) => [['allocate', { subscriber_id: `warm-${i}` }, 201]]);
    return await drive(svc, n, concurrency, (i) => [['allocate', { subscriber_id: `sub-${i}` }, 201]]);
  } finally {
    await svc.stop();
    scratch.remove();
  }
}

/** `n` full lifecycles (allocate → activate → revoke), with or without FreeRADIUS's SQLite configured. */
export async function benchHttpLifecycles(n: number, concurrency: number, withRadius: boolean): Promise<HttpRun> {
  const scratch = scratchDir();
  const radius = withRadius
    ? {
        radius: {
          sql: { path: join(scratch.dir, 'radius.sqlite'), create_schema: true },
        },
      }
    : {};
  const svc = await startService({ ...baseConfig(scratch.dir), ...radius }, scratch.dir);
  try {
    return await drive(svc, n, concurrency, (i) => [
      ['allocate', { subscriber_id: `sub-${i}` }, 201],
      ['activate', { subscriber_id: `sub-${i}`, username: `user-${i}` }, 200],
      ['revoke', { subscriber_id: `sub-${i}` }, 200],
    ]);
  } finally {
    await svc.stop();
    scratch.remove();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  // The service end: the same composition and server as main.ts, reporting its port and CPU over IPC.
  const { loadConfig } = await import('../config.ts');
  const { compose } = await import('../compose.ts');
  const { createHttpServer } = await import('../http/server.ts');
  const config = loadConfig(process.argv[2], process.env);
  const svc = await compose(config);
  const server = createHttpServer(svc.app.callback(), svc.log);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  await svc.start();
  if (process.env.BENCH_STUB_ALLOCATE === '1') {
    // The HTTP stack's floor: every allocation answers the one made here (201, its Location, its body).
    const made = await svc.service.allocate({ subscriber_id: 'stub' }, 5_000);
    svc.service.allocate = async () => made;
  }
  process.on('message', () => process.send?.({ cpu: process.cpuUsage() }));
  process.on('SIGTERM', () => {
    server.close();
    server.closeAllConnections();
    void svc.stop().then(() => process.exit(0));
  });
  process.send({ port: (server.address() as { port: number }).port });
}
