// An independent NetBox stand-in, written from ../shared/contracts/netbox/README.md and the 4.2.2
// OpenAPI subset only (not from test/support/netbox-server.ts): status objects on read, strings on
// write; PAGINATE_COUNT 50, MAX_PAGE_SIZE 1000; absolute `next` URLs on a public base (a reverse
// proxy's), unknown query parameters ignored (`ordering=id` and `id__gt`, both in the 4.2.2 spec,
// honoured unless `legacy`); available-prefixes taking one object or a list;
// 409 on exhaustion; DELETE 204 without a body; v1 and v2 tokens; 403 without permission.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const V1 = '0123456789abcdef0123456789abcdef01234567';
export const V2 = 'nbt_AbCdEf012345.s3cretS3cretS3cretS3cretS3cret';
const STATUSES: Record<string, string> = { container: 'Container', active: 'Active', reserved: 'Reserved', deprecated: 'Deprecated' };
const TAGS = new Map([['ipv6-lifecycle', { id: 1, name: 'ipv6-lifecycle', slug: 'ipv6-lifecycle', color: '9e9e9e' }]]);

export interface Row {
  id: number;
  prefix: string;
  status: string;
  vrf: number | null;
  tags: string[];
  custom_fields: Record<string, string | null>;
  description: string;
  comments: string;
  last_updated: string;
}

export interface StandinOptions {
  /** The base NetBox puts in `next`/`previous` (behind a proxy: another scheme, host and port). */
  publicBase?: string;
  customFields?: string[];
  /** Tokens that authenticate; `readOnly` ones get 403 on every write. */
  tokens?: string[];
  readOnly?: string[];
  /** MAX_PAGE_SIZE, 1000 unless the operator lowered it. */
  maxPageSize?: number;
  /** Ignores `ordering` and `id__gt` as unknown parameters (NetBox before 3.2, or a proxy dropping them). */
  legacy?: boolean;
  /** NetBox's BASE_PATH, e.g. `/netbox` behind a shared proxy. */
  basePath?: string;
}

export interface Standin {
  url: string;
  rows: Map<number, Row>;
  add(prefix: string, status?: string, extra?: Partial<Row>): Row;
  requests: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}

const big = (addr: string): bigint => {
  const [head = '', tail] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
};
const text = (n: bigint): string => {
  const g = Array.from({ length: 8 }, (_, i) => ((n >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  let best = [-1, 0];
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === '0') j++;
    if (j - i > Math.max(1, best[1] ?? 0)) best = [i, j - i];
  }
  const [at = -1, len = 0] = best;
  return at < 0 ? g.join(':') : `${g.slice(0, at).join(':')}::${g.slice(at + len).join(':')}`;
};
const net = (cidr: string) => {
  const [a = '', l = '128'] = cidr.split('/');
  const len = Number(l);
  const size = 1n << BigInt(128 - len);
  const start = big(a) & ~(size - 1n);
  return { start, end: start + size - 1n, len };
};
// NetBox (Django REST framework) writes microseconds: 2025-02-03T10:11:12.345678Z.
const stamp = () => new Date().toISOString().replace(/Z$/, '321Z');
const inside = (c: string, p: string, strict: boolean) => {
  const a = net(c);
  const b = net(p);
  return a.start >= b.start && a.end <= b.end && (!strict || a.len > b.len);
};

export async function startStandin(opts: StandinOptions = {}): Promise<Standin> {
  const rows = new Map<number, Row>();
  const requests: Standin['requests'] = [];
  const cfs = opts.customFields ?? ['lifecycle_id', 'lifecycle_subscriber_id', 'lifecycle_key'];
  const tokens = opts.tokens ?? [V1, V2];
  let nextId = 1;
  let base = '';
  const add = (prefix: string, status = 'active', extra: Partial<Row> = {}): Row => {
    const n = net(prefix);
    const row: Row = {
      id: nextId++, prefix: `${text(n.start)}/${n.len}`, status, vrf: null, tags: [], description: '', comments: '',
      custom_fields: Object.fromEntries(cfs.map((f) => [f, null])), last_updated: stamp(), ...extra,
    };
    rows.set(row.id, row);
    return row;
  };
  const show = (r: Row) => ({
    id: r.id, url: `${base}/api/ipam/prefixes/${r.id}/`, display: r.prefix, family: { value: 6, label: 'IPv6' }, prefix: r.prefix,
    vrf: r.vrf === null ? null : { id: r.vrf, name: `vrf${r.vrf}`, rd: null }, status: { value: r.status, label: STATUSES[r.status] },
    tags: r.tags.map((t) => ({ ...TAGS.get(t), url: `${base}/api/extras/tags/1/` })), custom_fields: { ...r.custom_fields },
    description: r.description, comments: r.comments, tenant: null, is_pool: false, mark_utilized: false,
    created: r.last_updated, last_updated: r.last_updated, children: 0, _depth: 0,
  });
  /** Validates a write body into row fields; a string of errors on failure (NetBox's field-keyed 400). */
  const write = (b: Record<string, unknown>): { w: Partial<Row> } | { err: Record<string, string[]> } => {
    const out: Partial<Row> = {};
    if ('status' in b) {
      if (typeof b.status !== 'string' || !STATUSES[b.status]) return { err: { status: [`"${JSON.stringify(b.status)}" is not a valid choice.`] } };
      out.status = b.status;
    }
    if ('description' in b) {
      if (typeof b.description !== 'string' || b.description.length > 200) return { err: { description: ['Ensure this field has no more than 200 characters.'] } };
      out.description = b.description;
    }
    if ('comments' in b) out.comments = String(b.comments ?? '');
    if ('tags' in b) {
      const names = (Array.isArray(b.tags) ? b.tags : []).map((t: { name?: string; slug?: string }) => t?.slug ?? t?.name ?? '');
      if (!names.every((n) => TAGS.has(n))) return { err: { tags: ['Related object not found using the provided attributes.'] } };
      out.tags = names;
    }
    if ('custom_fields' in b) {
      const cf = (b.custom_fields ?? {}) as Record<string, unknown>;
      const unknown = Object.keys(cf).filter((k) => !cfs.includes(k));
      if (unknown.length) return { err: { custom_fields: [`Unknown field name '${unknown[0]}' in custom field data.`] } };
      out.custom_fields = Object.fromEntries(Object.entries(cf).map(([k, v]) => [k, v === null ? null : String(v)]));
    }
    return { w: out };
  };
  const apply = (r: Row, w: Partial<Row>) => {
    Object.assign(r, { ...w, custom_fields: { ...r.custom_fields, ...(w.custom_fields ?? {}) } });
    r.last_updated = stamp();
  };
  const filter = (q: URLSearchParams) => {
    let list = [...rows.values()];
    const each = (name: string, fn: (r: Row, v: string) => boolean) => {
      const vs = q.getAll(name);
      if (vs.length) list = list.filter((r) => vs.some((v) => fn(r, v)));
    };
    each('within', (r, v) => inside(r.prefix, v, true));
    each('within_include', (r, v) => inside(r.prefix, v, false));
    each('prefix', (r, v) => net(r.prefix).start === net(v).start && net(r.prefix).len === net(v).len);
    each('status', (r, v) => r.status === v);
    each('tag', (r, v) => r.tags.includes(v));
    each('vrf_id', (r, v) => (v === 'null' ? r.vrf === null : r.vrf === Number(v)));
    each('mask_length', (r, v) => net(r.prefix).len === Number(v));
    each('q', (r, v) => r.description.toLowerCase().includes(v.toLowerCase()) || r.prefix.includes(v));
    for (const f of cfs) each(`cf_${f}`, (r, v) => r.custom_fields[f] === v);
    if (!opts.legacy) each('id__gt', (r, v) => r.id > Number(v));
    if (!opts.legacy && q.get('ordering') === 'id') return list.sort((a, b) => a.id - b.id);
    // NetBox orders prefixes by VRF (global first), then prefix, then pk.
    return list.sort((a, b) => (a.vrf ?? -1) - (b.vrf ?? -1) || Number(net(a.prefix).start - net(b.prefix).start) || net(a.prefix).len - net(b.prefix).len || a.id - b.id);
  };
  const allocate = (parent: Row, length: number): string | null => {
    const p = net(parent.prefix);
    const used = [...rows.values()]
      .filter((r) => r.id !== parent.id && inside(r.prefix, parent.prefix, true))
      .filter((r) => (parent.status === 'container' && parent.vrf === null) || r.vrf === parent.vrf)
      .map((r) => net(r.prefix));
    const size = 1n << BigInt(128 - length);
    for (let s = p.start; s <= p.end; s += size) {
      const e = s + size - 1n;
      const clash = used.find((u) => u.start <= e && u.end >= s);
      if (!clash) return `${text(s)}/${length}`;
      // Skip past the clash, aligned to the block size.
      s = ((clash.end + 1n + size - 1n) / size) * size - size;
    }
    return null;
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const u = new URL(req.url ?? '/', 'http://x');
    requests.push({ method: req.method ?? '', url: req.url ?? '' });
    const send = (status: number, body?: unknown) => {
      if (body === undefined) return void res.writeHead(status).end();
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    let raw = '';
    for await (const chunk of req) raw += chunk;
    const auth = req.headers.authorization ?? '';
    const m = /^(?:Token ([0-9a-f]{40})|Bearer (nbt_[A-Za-z0-9]+\.[A-Za-z0-9]+))$/.exec(auth);
    if (!auth) return send(403, { detail: 'Authentication credentials were not provided.' });
    const token = m?.[1] ?? m?.[2];
    if (!token || !tokens.includes(token)) return send(403, { detail: 'Invalid token' });
    if (req.method !== 'GET' && opts.readOnly?.includes(token)) return send(403, { detail: 'You do not have permission to perform this action.' });
    let body: unknown = null;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { detail: 'JSON parse error' });
      }
    }
    const bp = opts.basePath ?? '';
    if (!u.pathname.startsWith(`${bp}/`)) return send(404, { detail: 'Not found.' });
    const path = u.pathname.slice(bp.length);
    if (path === '/api/status/') return send(200, { 'netbox-version': '4.2.2', plugins: {} });
    if (path === '/api/ipam/prefixes/' && req.method === 'GET') {
      const limit = Math.min(Number(u.searchParams.get('limit') ?? 50) || 50, opts.maxPageSize ?? 1000);
      const offset = Math.max(0, Number(u.searchParams.get('offset') ?? 0) || 0);
      const list = filter(u.searchParams);
      const at = (o: number) => {
        const q = new URLSearchParams(u.searchParams);
        q.set('limit', String(limit));
        q.set('offset', String(o));
        return `${base}${opts.basePath ?? ''}/api/ipam/prefixes/?${q}`;
      };
      return send(200, {
        count: list.length, next: offset + limit < list.length ? at(offset + limit) : null,
        previous: offset > 0 ? at(Math.max(0, offset - limit)) : null, results: list.slice(offset, offset + limit).map(show),
      });
    }
    const one = /^\/api\/ipam\/prefixes\/(\d+)\/(available-prefixes\/)?$/.exec(path);
    const row = one ? rows.get(Number(one[1])) : undefined;
    if (!one) return send(404, { detail: 'Not found.' });
    if (!row) return send(404, { detail: 'No Prefix matches the given query.' });
    if (one[2]) {
      if (req.method !== 'POST') return send(405, { detail: `Method "${req.method}" not allowed.` });
      const many = Array.isArray(body);
      const asked = (many ? body : [body]) as Array<Record<string, unknown>>;
      const made: Row[] = [];
      for (const a of asked) {
        if (typeof a?.prefix_length !== 'number' || !Number.isInteger(a.prefix_length)) return send(400, { prefix_length: 'this field must be int type' });
        if (a.prefix_length > 128 || a.prefix_length < net(row.prefix).len) return send(409, { detail: 'Insufficient resources are available to satisfy the request' });
        const w = write({ status: 'active', ...a });
        if ('err' in w) return send(400, w.err);
        const got = allocate(row, a.prefix_length);
        if (!got) return send(409, { detail: 'Insufficient resources are available to satisfy the request' });
        const r = add(got, 'active', { vrf: row.vrf });
        apply(r, w.w);
        made.push(r);
      }
      return send(201, many ? made.map(show) : show(made[0] as Row));
    }
    if (req.method === 'GET') return send(200, show(row));
    if (req.method === 'DELETE') return (rows.delete(row.id), send(204));
    if (req.method === 'PATCH') {
      const w = write((body ?? {}) as Record<string, unknown>);
      if ('err' in w) return send(400, w.err);
      apply(row, w.w);
      return send(200, show(row));
    }
    return send(405, { detail: `Method "${req.method}" not allowed.` });
  }

  const server = createServer((req, res) => void handle(req, res).catch((err) => res.writeHead(500).end(String(err))));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  base = opts.publicBase ?? url;
  return {
    url, rows, add, requests,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
