// The service as the review11 RADIUS tests serve it beside a real FreeRADIUS: composed from a
// configuration with FreeRADIUS's SQL as `radius.sql` (no CPE, no sessions), on a loopback port,
// and called through its REST API with the bearer token.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';

const BASE = '/api/v1/network/ipv6';

export interface Served {
  composed: Composed;
  server: Server;
  origin: string;
  dir: string;
  /** A call of the API: its status and its JSON body. */
  call(method: string, p: string, json?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** Serves the service on `radius` (FreeRADIUS's sql, and `reply` if given), its database in a temporary folder. */
export async function serveWithRadius(
  token: string,
  radius: Record<string, unknown>,
  opts: { pools?: unknown[]; env?: NodeJS.ProcessEnv } = {},
): Promise<Served> {
  const dir = mkdtempSync(path.join(tmpdir(), 'review11-radius-'));
  const composed = await compose(
    parseConfig({
      database: path.join(dir, 'lifecycle.sqlite'),
      pools: opts.pools ?? [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      radius,
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: token, ...opts.env }, overrides: { cpe: null, sessions: null } },
  );
  await composed.start();
  const server = createServer(composed.app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    composed,
    server,
    origin,
    dir,
    async call(method, p, json) {
      const res = await fetch(`${origin}${BASE}/${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
      return { status: res.status, body: (await res.json()) as any };
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await composed.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
