// The composed service from a configuration, behind a real HTTP server on an ephemeral port, for
// end-to-end tests that talk to it only through the REST API.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig, type ConfigInput } from '../../config.ts';

export const TOKEN = 'e2e-token';

export interface Running {
  svc: Composed;
  /** `method path [body]` against `/api/v1/network/ipv6/`, answering status and parsed JSON. */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** Starts the service on a fresh database; `database`, a quick retry policy and the API token are filled in. */
export async function startService(config: ConfigInput, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-'));
  const svc = await compose(parseConfig({ database: join(dir, 'svc.sqlite'), retry: { attempts: 2, base_ms: 1, max_ms: 5 }, ...config }), {
    log: pino({ level: 'silent' }),
    env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...env },
  });
  await svc.start();
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    svc,
    async call(method, path, body) {
      const res = await fetch(`${origin}/api/v1/network/ipv6/${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await svc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
