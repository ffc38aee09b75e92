// Review 7: the service as an operator runs it, from its documented configuration only (no port
// overridden: the embedded IPAM, FreeRADIUS's SQLite radreply, a GenieACS NBI when configured),
// behind its own HTTP server on an ephemeral loopback port. Tests talk to it over HTTP; the log
// lines are kept to look for secrets, and `rowsRead` counts what SQLite hands back per request,
// the one measure of cost here that does not depend on the machine's speed.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { compose, type Composed } from '../../compose.ts';
import type { Overrides } from '../../compose-types.ts';
import { parseConfig, type ConfigInput } from '../../config.ts';
import { createHttpServer } from '../../http/server.ts';
import { loggerOptions } from '../../runtime/log-context.ts';

export const TOKEN = 'review7-api-token-0123456789';
export const BASE = '/api/v1/network/ipv6';

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface Service {
  composed: Composed;
  origin: string;
  dir: string;
  logs: string[];
  /** POST `${BASE}/${path}` with a JSON body (a string is sent as it is, a Buffer as its bytes). */
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Answer>;
  get(path: string): Promise<Answer>;
  close(opts?: { keep?: boolean }): Promise<void>;
}

/** Starts the service on `config` (its database in a fresh directory unless `dir` is given). */
export async function startService(config: (dir: string) => Partial<ConfigInput>, opts: { dir?: string; env?: NodeJS.ProcessEnv; overrides?: Overrides } = {}): Promise<Service> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'review7-'));
  const logs: string[] = [];
  const log = pino(loggerOptions('debug'), { write: (line: string) => void logs.push(line) });
  const composed = await compose(parseConfig({ database: join(dir, 'l.sqlite'), retry: { attempts: 2, base_ms: 1, max_ms: 5 }, ...config(dir) }), {
    log,
    env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, ...opts.env },
    ...(opts.overrides ? { overrides: opts.overrides } : {}),
  });
  await composed.start();
  const server: Server = createHttpServer(composed.app.callback(), log);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const h: Record<string, string> = { authorization: `Bearer ${TOKEN}`, ...headers };
    let payload: string | Uint8Array<ArrayBuffer> | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : Buffer.isBuffer(body) ? new Uint8Array(body) : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(origin + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (the Prometheus exposition): the text is the body.
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
  return {
    composed,
    origin,
    dir,
    logs,
    post: (path, body, headers) => request('POST', `${BASE}/${path}`, body, headers),
    get: (path) => request('GET', path.startsWith('/') ? path : `${BASE}/${path}`),
    async close(o = {}) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await composed.stop();
      if (!o.keep && !opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

// better-sqlite3's statement methods, wrapped on their prototype only while rowsRead() runs (the
// other test files in this process see them untouched), keyed by each statement's SQL (`source`).
const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { prepare(sql: string): object; close(): void };
const StatementProto = (() => {
  const db = new Database(':memory:');
  try {
    return Object.getPrototypeOf(db.prepare('SELECT 1')) as Record<'run' | 'get' | 'all' | 'iterate', (...a: unknown[]) => unknown>;
  } finally {
    db.close();
  }
})();

/** The rows each statement handed back while `fn` ran (every statement run is a key), and their total. */
export async function rowsRead(fn: () => Promise<unknown>): Promise<{ total: number; by: Map<string, number> }> {
  const by = new Map<string, number>();
  const add = (sql: string, n: number) => {
    const key = sql.replace(/\s+/g, ' ').trim();
    by.set(key, (by.get(key) ?? 0) + n);
  };
  const saved = { ...StatementProto };
  for (const method of ['run', 'get', 'all', 'iterate'] as const) {
    const inner = saved[method];
    StatementProto[method] = function (this: { source: string }, ...args: unknown[]) {
      const out = inner.apply(this, args);
      // A write hands back no rows; it is listed so that its plan can be looked at.
      if (method === 'run') add(this.source, 0);
      else if (method === 'all') add(this.source, (out as unknown[]).length);
      else if (method === 'get') add(this.source, out === undefined ? 0 : 1);
      else {
        // Counted as they are taken: the caller may stop early.
        const source = this.source;
        return (function* () {
          for (const row of out as IterableIterator<unknown>) {
            add(source, 1);
            yield row;
          }
        })();
      }
      return out;
    };
  }
  try {
    await fn();
  } finally {
    Object.assign(StatementProto, saved);
  }
  return { total: [...by.values()].reduce((a, b) => a + b, 0), by };
}

/** Runs `fn` over 0..n-1, `width` at a time. */
export async function inParallel(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** SQLite's plan of `sql` (its parameters bound to null, which a plan does not depend on), one line per step. */
export function queryPlan(db: { prepare(sql: string): { all(...a: unknown[]): unknown[] } }, sql: string): string[] {
  const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const names = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1]!))];
  const rows = names.length > 0 ? stmt.all(Object.fromEntries(names.map((k) => [k, null]))) : stmt.all(...Array((sql.match(/\?/g) ?? []).length).fill(null));
  return (rows as { detail: string }[]).map((r) => r.detail);
}
