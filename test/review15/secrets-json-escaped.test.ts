// Review 15: a secret holding characters JSON escapes (`"`, `\`). A peer answering JSON that echoes
// the request's Authorization: the body is parsed, written back as JSON for the excerpt, and the
// secret is in it as `\"` and `\\`, a form the redaction did not know, so the warn line's `detail`
// carried the NetBox token (one JSON.parse from its plain text). The whole log and every answer
// must hold no form of the token: as it is, JSON-escaped once (the excerpt) or twice (the log line).
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startService, type Service } from '../review7/support.ts';
import { startNetboxServer } from '../support/netbox-server.ts';

const NETBOX_TOKEN = 'nbt_R15key01.Se"cr\\et-7c1e9a3f5b';
const once = (s: string) => JSON.stringify(s).slice(1, -1);
const forms = [NETBOX_TOKEN, once(NETBOX_TOKEN), once(once(NETBOX_TOKEN)), encodeURIComponent(NETBOX_TOKEN)];
const leaks = (text: string) => forms.filter((f) => text.includes(f));

/** Passes requests on to `healthy.to` while set; then answers 401 in JSON, echoing the Authorization. */
async function echoing(healthy: { to?: string }, status: number, asText: boolean): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (healthy.to) {
      const up = request(healthy.to + req.url, { method: req.method, headers: req.headers }, (r) => (res.writeHead(r.statusCode ?? 502, r.headers), r.pipe(res)));
      req.pipe(up);
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(status, { 'content-type': asText ? 'text/plain' : 'application/json' });
      res.end(JSON.stringify({ detail: 'Invalid token', request: { authorization: req.headers.authorization } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const closed = (s: Server) => (s.closeAllConnections(), new Promise<void>((resolve) => s.close(() => resolve())));

const test = suite('review15: secrets JSON escapes, echoed by a peer answering JSON');

for (const [status, asText] of [[401, false], [500, false], [500, true]] as const) {
  test(`NetBox answering ${status} ${asText ? 'as text' : 'in JSON'} with a token holding " and \\ echoed: no form of it in the log or the answer`, async () => {
    const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), tokens: [NETBOX_TOKEN] });
    const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
    const healthy: { to?: string } = { to: netbox.url };
    const peer = await echoing(healthy, status, asText);
    let svc: Service | undefined;
    try {
      svc = await startService(() => ({
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
        netbox: { url: peer.url, timeout_ms: 1000 },
        log: { level: 'debug' },
      }), { env: { NETBOX_TOKEN } });
      delete healthy.to;
      const a = await svc.post('allocate', { subscriber_id: 'r15-json' });
      assert.is(a.status, status === 401 ? 409 : 502, a.text); // 401: failed for good; 500: given up after the retries
      const details = svc.logs.filter((l) => l.includes('"detail":"{'));
      assert.ok(details.length > 0 && details.every((l) => l.includes('Bearer [redacted]')), svc.logs.join('\n'));
      assert.equal(leaks(a.text), [], 'answer');
      assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
    } finally {
      await svc?.close();
      await closed(peer.server);
      await netbox.close();
    }
  });
}

test.run();
