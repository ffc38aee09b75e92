// Runs the composed service with one NetBox pool (`pd`, /56 from 2001:db8::/44) on the stand-in.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { startStandin, V1, type Standin, type StandinOptions } from './netbox-standin.ts';

const API = 'netbox-standin-e2e-api-token-1234';

export interface Running {
  nb: Standin;
  svc: Composed;
  server: Server;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }>;
  close(): Promise<void>;
}

export async function run(nbOpts: StandinOptions, token = V1, extra: (nb: Standin, parent: number) => Record<string, unknown> = () => ({}), pool: Record<string, unknown> = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'nb-standin-'));
  const nb = await startStandin(nbOpts);
  const parent = nb.add('2001:db8::/44', 'container');
  const svc = await compose(
    parseConfig({
      database: join(dir, 'x.sqlite'),
      retry: { attempts: 2, base_ms: 5, max_ms: 10 },
      ...extra(nb, parent.id),
      netbox: { url: nb.url, timeout_ms: 2000, ...(extra(nb, parent.id).netbox as object) },
      pools: [{ name: 'pd', prefix: '2001:db8::/44', prefix_length: 56, netbox: { parent_id: parent.id }, ...pool }],
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: API, NETBOX_TOKEN: token } },
  );
  await svc.start();
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    nb,
    svc,
    server,
    async call(method, path, body) {
      const url = path.startsWith('/') ? `${origin}${path}` : `${origin}/api/v1/network/ipv6/${path}`;
      const res = await fetch(url, {
        method,
        headers: { authorization: `Bearer ${API}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, text };
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await svc.stop();
      await nb.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The /56 prefixes NetBox holds. */
export const live = (nb: Standin) => [...nb.rows.values()].filter((r) => r.prefix.endsWith('/56'));
