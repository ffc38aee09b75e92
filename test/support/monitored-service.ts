// The composed service behind a real HTTP listener on loopback, for tests where a real Prometheus
// scrapes it: the REST API for the test, `/metrics` for Prometheus, a fresh database each time.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig, type ConfigInput } from '../../config.ts';

export const TOKEN = 'monitoring-test-token-0123456789';

export interface MonitoredService {
  svc: Composed;
  /** host:port, what a scrape config targets. */
  target: string;
  dir: string;
  /** `POST|GET /api/v1/network/ipv6/<path>`, status and parsed JSON. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  /** The exposition Prometheus scrapes. */
  metrics(): Promise<string>;
  close(): Promise<void>;
}

/** Starts the service; `database` and a quick retry policy are filled in unless given. */
export async function startMonitoredService(config: (dir: string) => ConfigInput, env: NodeJS.ProcessEnv = {}): Promise<MonitoredService> {
  const dir = mkdtempSync(join(tmpdir(), 'monitored-'));
  const svc = await compose(parseConfig({ database: join(dir, 'svc.sqlite'), retry: { attempts: 2, base_ms: 1, max_ms: 5 }, ...config(dir) }), {
    log: pino({ level: 'silent' }),
    env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...env },
  });
  await svc.start();
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    svc,
    target,
    dir,
    async call(method, path, body) {
      const res = await fetch(`http://${target}/api/v1/network/ipv6/${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    metrics: () => fetch(`http://${target}/metrics`).then((r) => r.text()),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
