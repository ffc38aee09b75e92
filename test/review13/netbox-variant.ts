import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Another NetBox stand-in, made by rewriting the answers of test/support/netbox-server.ts into forms
 * the contract (../shared/contracts/netbox and its OpenAPI subset) also allows: pages of `pageSize`
 * (MAX_PAGE_SIZE caps `limit`), `next` on another host (a proxy's), the available-prefixes POST
 * answered as a list (the spec's `201: array of Prefix`), and a 429 with Retry-After on the first
 * request of each method.
 */
export interface VariantOptions {
  pageSize?: number;
  /** Answer the available-prefixes POST as a one-element list. */
  listAnswer?: boolean;
  /** Retry-After of the one 429 each method gets first; none when unset. */
  retryAfter?: string;
}

export interface Variant {
  url: string;
  /** Method and path of every 429 sent. */
  throttled: string[];
  close(): Promise<void>;
}

const read = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });

/** Starts the rewriting front on 127.0.0.1 in front of `upstream`. */
export async function startVariant(upstream: string, opts: VariantOptions = {}): Promise<Variant> {
  const throttled: string[] = [];
  const seen = new Set<string>();
  const server: Server = createServer((req, res) => {
    void (async () => {
      const body = await read(req);
      const url = new URL(req.url ?? '/', upstream);
      const method = req.method ?? 'GET';
      if (opts.retryAfter !== undefined && !seen.has(method)) {
        seen.add(method);
        throttled.push(`${method} ${url.pathname}`);
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': opts.retryAfter });
        res.end(JSON.stringify({ detail: `Request was throttled. Expected available in ${opts.retryAfter} seconds.` }));
        return;
      }
      const isList = method === 'GET' && url.pathname === '/api/ipam/prefixes/';
      if (isList && opts.pageSize !== undefined) {
        const asked = Number(url.searchParams.get('limit') ?? 50) || 1000;
        url.searchParams.set('limit', String(Math.min(asked, opts.pageSize)));
      }
      const up = await new Promise<{ status: number; headers: Record<string, string>; body: Buffer }>((resolve, reject) => {
        const headers = { ...req.headers, host: new URL(upstream).host, 'content-length': String(body.length) };
        const r = request(new URL(url.pathname + url.search, upstream), { method, headers }, (answer) => {
          void read(answer).then((b) => resolve({ status: answer.statusCode ?? 502, headers: answer.headers as Record<string, string>, body: b }), reject);
        });
        r.on('error', reject);
        r.end(body);
      });
      let out = up.body;
      if (up.body.length > 0 && String(up.headers['content-type']).includes('json')) {
        let data = JSON.parse(up.body.toString('utf8')) as Record<string, unknown>;
        if (isList && typeof data.next === 'string') data = { ...data, next: data.next.replace(/^https?:\/\/[^/]+/, 'https://netbox-behind-proxy.invalid') };
        const isPost = method === 'POST' && /\/available-prefixes\/$/.test(url.pathname);
        if (isPost && opts.listAnswer && up.status === 201 && !Array.isArray(data)) out = Buffer.from(JSON.stringify([data]));
        else out = Buffer.from(JSON.stringify(data));
      }
      res.writeHead(up.status, { ...(out.length ? { 'content-type': 'application/json' } : {}) });
      res.end(out);
    })().catch((err: unknown) => {
      res.writeHead(502);
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, throttled, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
