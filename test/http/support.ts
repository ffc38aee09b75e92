// The service as `compose()` wires it, with the fake IPAM and CPE, behind a real HTTP server on an
// ephemeral port: requests go through Node's parser, so body limits and framing are real.
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loggerOptions } from '../../runtime/log-context.ts';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig, type ConfigInput } from '../../config.ts';
import { createHttpServer } from '../../http/server.ts';
import { createFakeCpe } from '../../services/genieacs/fake.ts';
import { createFakeIpam, type FakeIpam } from '../../services/ipam/fake.ts';
import type { CpePort } from '../../services/genieacs/port.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from '../../services/radius/port.ts';

export const TOKEN = 'test-token-0123456789';
export const METRICS_TOKEN = 'metrics-token-abcdef';
export const BASE = '/api/v1/network/ipv6';

export const POOLS = [
  { name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 },
  { name: 'business', prefix: '2001:db8:1000::/40', prefix_length: 48 },
  // Room for exactly two /64s.
  { name: 'tiny', prefix: '2001:db8:ff00::/63', prefix_length: 64 },
];

export interface Answer {
  status: number;
  headers: Headers;
  /** Parsed JSON when the answer is JSON, else the text. */
  body: any;
  text: string;
}

export interface RequestOptions {
  /** Serialized as JSON with `Content-Type: application/json`. */
  json?: unknown;
  /** Sent as is. */
  raw?: string;
  headers?: Record<string, string>;
  /** Bearer token; null sends none. Defaults to the API token. */
  token?: string | null;
}

export interface Harness {
  composed: Composed;
  /** `http://127.0.0.1:<port>`, for requests the helpers cannot make. */
  origin: string;
  token: string;
  ipam: FakeIpam;
  cpe: ReturnType<typeof createFakeCpe>;
  /** Every log line, parsed. */
  logs: Record<string, unknown>[];
  rawLogs: string[];
  request(method: string, path: string, opts?: RequestOptions): Promise<Answer>;
  post(op: string, json: unknown, opts?: Omit<RequestOptions, 'json'>): Promise<Answer>;
  get(path: string, opts?: RequestOptions): Promise<Answer>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Wraps the fake IPAM, e.g. to slow it down. */
  wrapIpam?: (fake: FakeIpam) => IpamPort;
  /** Wraps the fake CPE port, e.g. to hold its commands. */
  wrapCpe?: (port: CpePort) => CpePort;
  /** RADIUS ports; none by default (their steps are skipped). */
  replies?: RadiusReplyPort | null;
  sessions?: DynamicAuthorizationPort | null;
  /** Directory of the database, kept on close(): a second harness on it models a restart. */
  dir?: string;
  /** Leave start-up recovery unfinished, so the service is not ready. */
  skipStart?: boolean;
  metricsToken?: boolean;
  config?: Partial<ConfigInput>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'http-test-'));
  const rawLogs: string[] = [];
  const log = pino(loggerOptions('debug'), { write: (line: string) => void rawLogs.push(line) });
  const config = parseConfig({
    database: join(dir, 'x.sqlite'),
    pools: POOLS,
    retry: { attempts: 2, base_ms: 1, max_ms: 5 },
    api: opts.metricsToken ? { metrics_token_env: 'TEST_METRICS_TOKEN' } : {},
    ...opts.config,
  });
  const ipam = createFakeIpam(POOLS.map((p) => ({ name: p.name, prefix: p.prefix, prefixLength: p.prefix_length })));
  const cpe = createFakeCpe();
  const composed = await compose(config, {
    log,
    env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, TEST_METRICS_TOKEN: METRICS_TOKEN },
    overrides: { ipam: opts.wrapIpam ? opts.wrapIpam(ipam) : ipam, cpe: opts.wrapCpe ? opts.wrapCpe(cpe.port) : cpe.port, replies: opts.replies ?? null, sessions: opts.sessions ?? null },
  });
  if (!opts.skipStart) await composed.start();

  const server: Server = createHttpServer(composed.app.callback(), log);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const request = async (method: string, path: string, o: RequestOptions = {}): Promise<Answer> => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? TOKEN : o.token;
    if (token !== null) headers.authorization ??= `Bearer ${token}`;
    let body: string | undefined = o.raw;
    if (o.json !== undefined) {
      body = JSON.stringify(o.json);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(origin + path, { method, headers, body });
    const text = await res.text();
    const isJson = (res.headers.get('content-type') ?? '').includes('json');
    return { status: res.status, headers: res.headers, body: isJson && text ? JSON.parse(text) : text, text };
  };

  return {
    composed,
    origin,
    token: TOKEN,
    ipam,
    cpe,
    rawLogs,
    get logs() {
      return rawLogs.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    request,
    post: (op, json, o = {}) => request('POST', `${BASE}/${op}`, { ...o, json }),
    get: (path, o = {}) => request('GET', path, o),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await composed.stop();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A gate calls wait on: closed, they wait until `open()`; open, they go straight through. */
function createGate() {
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  return {
    wait: () => gate?.promise,
    close() {
      let open = () => {};
      const promise = new Promise<void>((resolve) => (open = resolve));
      gate = { promise, open };
    },
    open() {
      gate?.open();
      gate = null;
    },
  };
}

/** An IPAM whose allocations and releases wait until `open()`: operations outlast `?wait=` on demand. */
export function gatedIpam(inner: FakeIpam) {
  const gate = createGate();
  const port: IpamPort = {
    ...inner,
    async allocate(cmd, signal) {
      await gate.wait();
      return inner.allocate(cmd, signal);
    },
    async release(cmd, signal) {
      await gate.wait();
      return inner.release(cmd, signal);
    },
  };
  return { port, close: gate.close, open: gate.open };
}

/** A CPE port whose commands wait until `open()`, as gatedIpam does for the IPAM. */
export function gatedCpe(inner: CpePort) {
  const gate = createGate();
  const held = <A extends unknown[], R>(fn: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
    await gate.wait();
    return fn(...a);
  };
  const port: CpePort = { configurePd: held(inner.configurePd), removeIpv6: held(inner.removeIpv6) };
  return { port, close: gate.close, open: gate.open };
}

/** GETs `path` until `done(body)`; throws with the last answer when that has not happened within `ms`. */
export async function pollUntil(h: Harness, path: string, done: (body: any) => boolean, ms = 5000): Promise<Answer> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await h.get(path);
    if (done(r.body)) return r;
    if (Date.now() > until) throw new Error(`GET ${path}: not there within ${ms} ms; last answer ${r.status} ${r.text}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
