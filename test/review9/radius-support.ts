// Review 9's harness: the service as an ISP runs it on FreeRADIUS 3.2 with rlm_sql on PostgreSQL or
// MariaDB (a real FreeRADIUS on a fresh database of the shared throw-away server), driven only
// through the REST API, and checked with real Access-Requests.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite, type Test } from 'uvu';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer, type SqlServer } from '../support/freeradius.ts';
import { accessRequest } from '../support/radius-client.ts';
import { RADIUS_SQL_SERVERS } from '../support/radius-sql-service.ts';

export const TOKEN = 'review9-radius-token-0123456789';
const BASE = '/api/v1/network/ipv6';
export const POOL = { name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 };

export interface Isp {
  server: SqlServer;
  peer: FreeRadiusPeer;
  composed: Composed;
  /** The Prometheus exposition (GET /metrics, outside the API). */
  metrics(): Promise<string>;
  /** POST `${BASE}/${verb}` with the token; `verb` may carry a query. */
  post(verb: string, json?: unknown): Promise<{ status: number; body: any }>;
  get(pathAndQuery: string): Promise<{ status: number; body: any }>;
  /** What FreeRADIUS answers an Access-Request of `user` (password `pw`). */
  ask(user: string): Promise<{ code: string; delegated: string[]; framed: string[]; types: number[] }>;
  /** A radius database query's rows, each split at tabs. */
  rows(sql: string): string[][];
  close(): Promise<void>;
}

/** One suite per SQL server that can run here (`only`: that one), `ctx.isp` fresh for each test. */
export function ispSuites(title: (server: string) => string, config: Record<string, unknown> = {}, only?: string): Test<{ isp: Isp }>[] {
  return RADIUS_SQL_SERVERS.filter((b) => only === undefined || b.name === only).flatMap((backend) => {
    const name = title(backend.name);
    if (!peerAvailable(name) || !backend.available(name)) return [];
    const test = suite<{ isp: Isp }>(name, {} as { isp: Isp });
    test.before.each(async (ctx) => {
      try {
        ctx.isp = await startIsp(await backend.open(), config);
      } catch (err) {
        // uvu drops what a hook throws: say it, then fail.
        console.error(`${name}: set-up failed:`, err);
        throw err;
      }
    });
    test.after.each(async (ctx) => {
      await ctx.isp?.close();
    });
    return [test];
  });
}

export async function startIsp(server: SqlServer, config: Record<string, unknown>): Promise<Isp> {
  const peer = await startFreeRadius({ sql: server });
  const dir = mkdtempSync(path.join(tmpdir(), 'review9-radius-'));
  let composed: Composed | null = null;
  let http: Server | null = null;
  try {
    const { radius: extra, ...rest } = config as { radius?: Record<string, unknown> };
    composed = await compose(
      parseConfig({
        database: path.join(dir, 'lifecycle.sqlite'),
        pools: [POOL],
        retry: { attempts: 2, base_ms: 1, max_ms: 5 },
        ...rest,
        radius: { ...(extra ?? {}), sql: { ...peer.sqlConfig, connect_timeout_ms: 2000, ...((extra?.sql as object) ?? {}) } },
      }),
      { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...peer.env }, overrides: { cpe: null, sessions: null } },
    );
    await composed.start();
    http = createServer(composed.app.callback());
    await new Promise<void>((r) => http!.listen(0, '127.0.0.1', r));
  } catch (err) {
    await composed?.stop();
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const call = async (method: string, url: string, json?: unknown) => {
    const res = await fetch(`${origin}${BASE}/${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const text = await res.text();
    return { status: res.status, body: text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text };
  };
  return {
    server,
    peer,
    composed,
    post: (verb, json = {}) => call('POST', verb, json),
    get: (url) => call('GET', url),
    metrics: async () => (await fetch(`${origin}/metrics`)).text(),
    async ask(user) {
      const a = await accessRequest(peer.host, peer.ports.auth, peer.secret, user, 'pw');
      return { code: a.code, delegated: a.delegated, framed: a.framed, types: a.attributes.map((x) => x.type).sort((x, y) => x - y) };
    },
    rows: (sql) =>
      server
        .run(sql)
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.split('\t')),
    async close() {
      http!.closeAllConnections();
      await new Promise<void>((r) => http!.close(() => r()));
      await composed!.stop();
      await peer.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A SQL string literal (test data only). */
export const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
