// Requests written byte for byte on a socket: what fetch and node:http would refuse to send.
import { createConnection } from 'node:net';

export interface RawAnswer {
  statusLine: string;
  headers: Record<string, string>;
  body: string;
}

/** Writes `bytes` on a fresh connection to `origin` and reads until the server closes it. */
export function raw(origin: string, bytes: string): Promise<RawAnswer> {
  const u = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: u.hostname, port: Number(u.port) });
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer within 5 s')));
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = data.split(/\r\n\r\n(.*)/s);
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ statusLine, headers, body });
    });
    // Not end(): a half-closed client loses the answer that follows a 100 Continue; the requests say Connection: close.
    socket.write(bytes);
  });
}

/** The answer is a 400 in the API's error shape, with a Content-Type and an X-Request-Id. */
export function errorOf(r: RawAnswer): { status: string; json: boolean; requestId: boolean; body: unknown } {
  let body: unknown = r.body;
  try {
    body = JSON.parse(r.body);
  } catch {
    /* compared as text */
  }
  return { status: r.statusLine, json: /^application\/json/.test(r.headers['content-type'] ?? ''), requestId: Boolean(r.headers['x-request-id']), body };
}
