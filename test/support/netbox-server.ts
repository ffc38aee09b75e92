import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatPrefix, type Ipv6Prefix } from '../../services/ipv6.ts';
import { FieldErrors, PrefixTable, type StoredPrefix, type StoredVrf } from './netbox-prefixes.ts';

/** A v1 token (40 hex) and a v2 token (`nbt_<key>.<secret>`) the server accepts by default. */
export const V1_TOKEN = '0123456789abcdef0123456789abcdef01234567';
export const V2_TOKEN = 'nbt_Kf3s9QwErTy1.q8Zx7Vb6Nm5Lk4Jh3Gf2Ds1Aq0Wp9Oi8Uy7Tr6Es';

export interface NetboxServerOptions {
  tokens?: string[];
  /** Custom fields defined on `ipam.prefix` (text); none by default. */
  customFields?: string[];
  /** Tag slugs that exist (the name equals the slug); `ipv6-lifecycle` by default. */
  tags?: string[];
  now?: () => number;
  /** How long each available-prefixes allocation holds NetBox's lock (a slow NetBox queues them); 0 by default. */
  allocationMs?: number;
}

/** Which requests a fault applies to. */
export interface FaultMatch {
  method?: string;
  path?: RegExp;
}

/** One request as the server saw it. */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  authorization: string | undefined;
}

/** A local NetBox that speaks the documented prefix API, with faults to inject. */
export interface NetboxServer {
  url: string;
  table: PrefixTable;
  requests: SeenRequest[];
  /** Prefixes created through available-prefixes, answered or not. */
  created: number;
  /** Called before each prefix list is read, e.g. to change the table mid-walk. */
  onList?: (query: URLSearchParams) => void;
  /** Added before every request is handled. */
  delayMs: number;
  /** How long each allocation holds NetBox's lock (`options.allocationMs` at start). */
  allocationMs: number;
  addVrf(name: string, rd?: string | null): StoredVrf;
  addPrefix(p: { prefix: string; vrfId?: number | null; status?: string; description?: string; tags?: string[]; customFields?: Record<string, unknown>; tenant?: { id: number; name: string; slug: string } }): StoredPrefix;
  prefixes(): StoredPrefix[];
  /** The next `times` matching requests get `status` (503 by default) without any effect. */
  failNext(times: number, opts?: FaultMatch & { status?: number; retryAfter?: string }): void;
  /** The next `times` matching requests take effect, then the connection drops before the answer. */
  loseAnswers(times: number, match?: FaultMatch): void;
  /** Resolves once NetBox's allocation lock queue is empty, including allocations queued meanwhile. */
  allocationsDone(): Promise<void>;
  /** Down: every connection is dropped without an answer. */
  setDown(down: boolean): void;
  /** Forgets the faults queued by failNext and loseAnswers, ends a setDown and the delay. */
  clearFaults(): void;
  close(): Promise<void>;
}

type Answer = { status: number; body?: unknown; headers?: Record<string, string> };

const LABELS: Record<string, string> = { container: 'Container', active: 'Active', reserved: 'Reserved', deprecated: 'Deprecated' };
const NO_PREFIX: Answer = { status: 404, body: { detail: 'No Prefix matches the given query.' } };

/** Starts the server on 127.0.0.1 with an ephemeral port. */
export async function startNetboxServer(options: NetboxServerOptions = {}): Promise<NetboxServer> {
  const tokens = new Set(options.tokens ?? [V1_TOKEN, V2_TOKEN]);
  const table = new PrefixTable(new Set(options.tags ?? ['ipv6-lifecycle']), options.customFields ?? [], options.now ?? Date.now);
  const failures: Array<FaultMatch & { status: number; retryAfter?: string }> = [];
  const losses: FaultMatch[] = [];
  let down = false;
  // NetBox serializes every available-prefix allocation under one advisory lock (key 100100).
  let lock: Promise<unknown> = Promise.resolve();
  let base = '';

  const matches = (m: FaultMatch, req: IncomingMessage, path: string) =>
    (!m.method || m.method === req.method) && (!m.path || m.path.test(path));

  function tagView(slug: string) {
    return { id: [...table.tags].indexOf(slug) + 1, url: `${base}/api/extras/tags/${slug}/`, display: slug, name: slug, slug, color: '9e9e9e' };
  }

  function vrfView(id: number | null) {
    const v = id === null ? undefined : table.vrfs.get(id);
    return v ? { id: v.id, url: `${base}/api/ipam/vrfs/${v.id}/`, display: v.name, name: v.name, rd: v.rd, description: '' } : null;
  }

  function view(r: StoredPrefix) {
    const cf = Object.fromEntries(table.customFields.map((f) => [f, r.customFields[f] ?? null]));
    return {
      id: r.id, url: `${base}/api/ipam/prefixes/${r.id}/`, display_url: `${base}/ipam/prefixes/${r.id}/`, display: r.prefix,
      family: { value: 6, label: 'IPv6' }, prefix: r.prefix, vrf: vrfView(r.vrfId), scope_type: null, scope_id: null, scope: null,
      tenant: r.tenant ? { id: r.tenant.id, url: `${base}/api/tenancy/tenants/${r.tenant.id}/`, display: r.tenant.name, name: r.tenant.name, slug: r.tenant.slug } : null, vlan: null, status: { value: r.status, label: LABELS[r.status] ?? r.status }, role: null, is_pool: false,
      mark_utilized: false, description: r.description, comments: r.comments, tags: r.tags.map(tagView), custom_fields: cf,
      created: r.created, last_updated: r.lastUpdated, children: table.childrenOf(r).length, _depth: table.depthOf(r),
    };
  }

  function page(url: URL, rows: StoredPrefix[]): Answer {
    const raw = url.searchParams.get('limit');
    const asked = raw !== null && /^\d+$/.test(raw) ? Number(raw) : 50;
    const limit = asked === 0 ? 1000 : Math.min(asked, 1000);
    const offset = Number(url.searchParams.get('offset') ?? 0) || 0;
    const link = (at: number) => {
      const u = new URL(url.pathname + url.search, base);
      u.searchParams.set('limit', String(limit));
      if (at > 0) u.searchParams.set('offset', String(at));
      else u.searchParams.delete('offset');
      return u.toString();
    };
    return {
      status: 200,
      body: {
        count: rows.length,
        next: offset + limit < rows.length ? link(offset + limit) : null,
        previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
        results: rows.slice(offset, offset + limit).map(view),
      },
    };
  }

  function create(fields: Partial<StoredPrefix> & { prefix: string }): StoredPrefix {
    return table.insert({
      prefix: fields.prefix, vrfId: fields.vrfId ?? null, status: fields.status ?? 'active', description: fields.description ?? '',
      comments: fields.comments ?? '', tags: fields.tags ?? [], customFields: fields.customFields ?? {},
    });
  }

  async function allocate(parent: StoredPrefix, body: unknown): Promise<Answer> {
    const items = (Array.isArray(body) ? body : [body]) as Array<Record<string, unknown>>;
    for (const item of items) {
      // NetBox's PrefixLengthSerializer checks the type itself, hence the unusual non-list message.
      if (item === null || typeof item !== 'object') return { status: 400, body: { non_field_errors: ['Invalid data. Expected a dictionary.'] } };
      const n = item.prefix_length;
      if (n === undefined || n === null) return { status: 400, body: { prefix_length: 'this field can not be missing' } };
      if (typeof n !== 'number' || !Number.isInteger(n)) return { status: 400, body: { prefix_length: 'this field must be int type' } };
      if (n > 128 || n < 0) return { status: 400, body: { prefix_length: `Invalid prefix length (${n}) for IPv6` } };
    }
    const run = lock.then(async () => {
      // Committed whether or not the client is still waiting, as NetBox does.
      if (server.allocationMs > 0) await new Promise((r) => setTimeout(r, server.allocationMs));
      if (!table.rows.has(parent.id)) return NO_PREFIX;
      const taken: Ipv6Prefix[] = [];
      for (const item of items) {
        const block = table.firstFree(parent, item.prefix_length as number, taken);
        if (!block) return { status: 409, body: { detail: 'Insufficient resources are available to satisfy the request' } };
        taken.push(block);
      }
      const fields = items.map((item) => table.writable(item));
      const made = fields.map((f, i) => create({ ...f, prefix: formatPrefix(taken[i] as Ipv6Prefix), vrfId: parent.vrfId }));
      server.created += made.length;
      const views = made.map(view);
      return { status: 201, body: Array.isArray(body) ? views : views[0] };
    });
    lock = run.catch(() => undefined);
    return run;
  }

  async function route(req: IncomingMessage, url: URL, body: unknown): Promise<Answer> {
    const m = /^\/api\/ipam\/prefixes\/(?:(\d+)\/(available-prefixes\/)?)?$/.exec(url.pathname);
    if (url.pathname === '/api/status/' && req.method === 'GET') {
      return { status: 200, body: { 'netbox-version': '4.2.2', 'django-version': '5.1.5', 'installed-apps': {}, plugins: {}, 'rq-workers-running': 1 } };
    }
    if (!m) return { status: 404, body: { detail: 'Not found.' } };
    if (m[1] === undefined) {
      if (req.method === 'GET') return (server.onList?.(url.searchParams), page(url, table.filter(url.searchParams)));
      if (req.method !== 'POST') return { status: 405, body: { detail: `Method "${req.method}" not allowed.` } };
      const items = (Array.isArray(body) ? body : [body]) as Array<Record<string, unknown>>;
      const made = items.map((item) => {
        if (typeof item?.prefix !== 'string') throw new FieldErrors({ prefix: ['This field is required.'] });
        return create({ ...table.writable(item), prefix: item.prefix });
      });
      return { status: 201, body: Array.isArray(body) ? made.map(view) : view(made[0] as StoredPrefix) };
    }
    const row = table.rows.get(Number(m[1]));
    if (!row) return NO_PREFIX;
    if (m[2]) {
      if (req.method === 'POST') return allocate(row, body);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const free = table.freeCidrs(row).map((c) => ({ family: 6, prefix: formatPrefix(c), vrf: vrfView(row.vrfId) }));
      return { status: 200, body: limit > 0 ? free.slice(0, limit) : free };
    }
    if (req.method === 'GET') return { status: 200, body: view(row) };
    if (req.method === 'DELETE') {
      table.rows.delete(row.id);
      return { status: 204 };
    }
    if (req.method === 'PATCH' || req.method === 'PUT') {
      Object.assign(row, table.writable((body ?? {}) as Record<string, unknown>, row));
      table.touch(row);
      return { status: 200, body: view(row) };
    }
    return { status: 405, body: { detail: `Method "${req.method}" not allowed.` } };
  }

  function authorized(header: string | undefined): Answer | null {
    if (!header) return { status: 403, body: { detail: 'Authentication credentials were not provided.' } };
    const [scheme, value = ''] = header.split(' ', 2);
    const ok = tokens.has(value) && (scheme === 'Bearer' ? value.startsWith('nbt_') : scheme === 'Token' && !value.startsWith('nbt_'));
    return ok ? null : { status: 403, body: { detail: 'Invalid token' } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', base);
    server.requests.push({ method: req.method ?? '', path: url.pathname, query: url.search, authorization: req.headers.authorization });
    if (down) return void req.socket.destroy();
    if (server.delayMs > 0) await new Promise((r) => setTimeout(r, server.delayMs));
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let answer = authorized(req.headers.authorization);
    const fault = failures.findIndex((f) => matches(f, req, url.pathname));
    if (!answer && fault >= 0) {
      const [f] = failures.splice(fault, 1);
      answer = { status: f?.status ?? 503, body: { detail: 'injected fault' }, headers: f?.retryAfter ? { 'retry-after': f.retryAfter } : {} };
    }
    if (!answer) {
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        answer = await route(req, url, text === '' ? undefined : JSON.parse(text));
      } catch (err) {
        if (err instanceof FieldErrors) answer = { status: 400, body: err.fields };
        else if (err instanceof SyntaxError) answer = { status: 400, body: { detail: `JSON parse error - ${err.message}` } };
        else throw err;
      }
      const lost = losses.findIndex((l) => matches(l, req, url.pathname));
      if (lost >= 0) {
        losses.splice(lost, 1);
        return void req.socket.destroy();
      }
    }
    const payload = answer.body === undefined ? '' : JSON.stringify(answer.body);
    res.writeHead(answer.status, { ...(payload ? { 'content-type': 'application/json' } : {}), ...answer.headers });
    res.end(payload);
  }

  const http = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: String(err) }));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const server: NetboxServer = {
    url: base,
    table,
    requests: [],
    created: 0,
    delayMs: 0,
    allocationMs: options.allocationMs ?? 0,
    addVrf(name, rd = null) {
      const v = { id: table.vrfs.size + 1, name, rd };
      table.vrfs.set(v.id, v);
      return v;
    },
    addPrefix(p) {
      const row = create({ ...p, customFields: p.customFields ?? {} });
      if (p.tenant) row.tenant = p.tenant;
      return row;
    },
    prefixes: () => table.sorted(table.rows.values()),
    failNext(times, opts = {}) {
      for (let i = 0; i < times; i++) failures.push({ ...opts, status: opts.status ?? 503 });
    },
    loseAnswers(times, match = {}) {
      for (let i = 0; i < times; i++) losses.push(match);
    },
    async allocationsDone() {
      for (let seen: unknown = null; seen !== lock; ) {
        seen = lock;
        await lock;
      }
    },
    setDown(value) {
      down = value;
    },
    clearFaults() {
      failures.splice(0);
      losses.splice(0);
      down = false;
      server.delayMs = 0;
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  return server;
}
