// Review 14: a scripted NBI for the GenieACS client, where our stand-in (test/support/genieacs-nbi.ts)
// settles what GenieACS's documentation leaves open: each test answers every request itself, in
// plain text or JSON, gzip'd when asked to, and can close the connection after an answer.
import { createServer, STATUS_CODES, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export interface ScriptedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
  acceptEncoding: string;
}

export interface ScriptedAnswer {
  status: number;
  reason?: string;
  /** A string is sent as text/plain, anything else as JSON. */
  body?: unknown;
  gzip?: boolean;
  /** Destroys the socket right after the answer, with no `Connection: close` announced. */
  closeAfter?: boolean;
}

export interface ScriptedNbi {
  url: string;
  requests: ScriptedRequest[];
  close(): Promise<void>;
}

export async function startScriptedNbi(answer: (req: ScriptedRequest) => ScriptedAnswer | Promise<ScriptedAnswer>): Promise<ScriptedNbi> {
  const requests: ScriptedRequest[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const u = new URL(req.url ?? '/', 'http://nbi');
      const seen = { method: req.method ?? '', path: u.pathname, query: u.searchParams, body: Buffer.concat(chunks).toString('utf8'), acceptEncoding: String(req.headers['accept-encoding'] ?? '') };
      requests.push(seen);
      const a = await answer(seen);
      const json = a.body !== undefined && typeof a.body !== 'string';
      let payload = Buffer.from(a.body === undefined ? '' : json ? JSON.stringify(a.body) : String(a.body));
      const headers: Record<string, string> = { 'Content-Type': json ? 'application/json' : 'text/plain', 'GenieACS-Version': '1.2.16' };
      if (a.gzip) {
        payload = gzipSync(payload);
        headers['Content-Encoding'] = 'gzip';
      }
      headers['Content-Length'] = String(payload.length);
      res.writeHead(a.status, a.reason ?? STATUS_CODES[a.status] ?? '', headers);
      res.end(payload, () => {
        if (a.closeAfter) req.socket.destroy();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
