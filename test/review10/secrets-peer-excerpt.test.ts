// Review 10: a peer's body goes to the warn line as `detail`, cut to an excerpt and "secrets
// redacted" (services/errors.ts). A NetBox or an NBI that echoes the request's Authorization far
// enough into a long body puts the secret across the cut: cut first, the head of the secret is no
// longer the whole secret and survives the redaction. Each peer answers 500 to everything, its
// body padded so that the echoed credential starts just before the excerpt's end.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startService, TOKEN, type Service } from '../review7/support.ts';
import { startNetboxServer } from '../support/netbox-server.ts';

const NETBOX_TOKEN = 'f3c9a1d07e5b42c68a9d13e07b5f2c4a9e1d7b30';
const ACS = { ACS_USER: 'acs-operator', ACS_PASSWORD: 'acs-Pa55-word-review10' };
const basic = Buffer.from(`${ACS.ACS_USER}:${ACS.ACS_PASSWORD}`).toString('base64');

// From its 21st character on, the basic auth's base64 encodes the password (the user name is no secret).
const forms = [NETBOX_TOKEN, ACS.ACS_PASSWORD, TOKEN].flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]).concat(basic.slice(20));

/** Any 12 characters of a secret in a row (or of its base64 / URL-encoded form) in `text`. */
function leaks(text: string): string[] {
  const found = new Set<string>();
  for (const s of forms) for (let i = 0; i + 12 <= s.length; i++) if (text.includes(s.slice(i, i + 12))) found.add(s.slice(i, i + 12));
  return [...found];
}

/**
 * A peer that answers 500 to everything (`pad` characters, then the request's Authorization, twice),
 * or, while `healthy.to` is set, passes each request on to that origin.
 */
async function echoing(pad: number, healthy: { to?: string } = {}): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (healthy.to) {
      const up = request(healthy.to + req.url, { method: req.method, headers: req.headers }, (r) => (res.writeHead(r.statusCode ?? 502, r.headers), r.pipe(res)));
      req.pipe(up);
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${'x'.repeat(pad)}Authorization: ${req.headers.authorization} Authorization: ${req.headers.authorization}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const closed = (s: Server) => (s.closeAllConnections(), new Promise<void>((resolve) => s.close(() => resolve())));

const test = suite('review10: secrets across the cut of a peer-body excerpt');

test('NetBox answering 500 with the token echoed across the 300th character: no part of it in the log or the answer', async () => {
  const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), tokens: [NETBOX_TOKEN] });
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  // "Authorization: Token " is 21 characters: the token starts at 280 of the body. NetBox is
  // healthy while the service resolves its pool, then answers every request so.
  const healthy: { to?: string } = { to: netbox.url };
  const peer = await echoing(259, healthy);
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
      netbox: { url: peer.url, timeout_ms: 1000 },
    }), { env: { NETBOX_TOKEN } });
    delete healthy.to;
    const a = await svc.post('allocate', { subscriber_id: 'x-nb' });
    assert.ok(a.status >= 500, a.text);
    assert.ok(svc.logs.some((l) => l.includes('"detail"')), svc.logs.join('\n'));
    assert.equal(leaks(a.text), [], 'answer');
    assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
  } finally {
    await svc?.close();
    await closed(peer.server);
    await netbox.close();
  }
});

test('an NBI answering 500 with the basic auth echoed across the 200th character: no part of it in the log or the answer', async () => {
  // "Authorization: Basic " is 21 characters: the credentials start at 160 of the body, the password at 180.
  const peer = await echoing(139);
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      genieacs: { url: peer.url, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD' },
    }), { env: ACS });
    const answers: string[] = [];
    answers.push((await svc.post('allocate', { subscriber_id: 'x-acs' })).text);
    answers.push((await svc.post('activate', { subscriber_id: 'x-acs', username: 'x-acs@isp.example', cpe_id: 'CPE-X' })).text);
    answers.push((await svc.get('lifecycle/x-acs/events')).text);
    assert.ok(svc.logs.some((l) => l.includes('"detail"')), 'the body reached a warn line');
    assert.equal(leaks(answers.join('\n')), [], 'answers');
    assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
  } finally {
    await svc?.close();
    await closed(peer.server);
  }
});

test("a CPE fault whose message echoes the basic auth across the 300th character: no part of it in the answer or the log", async () => {
  // The fault's text is "cwmp.9002 " and its message; "Authorization: Basic " is 21 characters more.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '';
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && path.startsWith('/tasks/')) return void res.end('[]');
      if (req.method === 'GET' && path.startsWith('/devices/')) return void res.end(JSON.stringify([{ _id: 'CPE-F' }]));
      if (req.method === 'POST') return void ((res.statusCode = 202), (res.statusMessage = 'Task faulted'), res.end(JSON.stringify({ _id: 't1' })));
      if (path.startsWith('/faults/')) return void res.end(JSON.stringify([{ code: 'cwmp.9002', message: `${'x'.repeat(229)}Authorization: ${req.headers.authorization}` }]));
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      genieacs: { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD' },
    }), { env: ACS });
    const answers = [(await svc.post('allocate', { subscriber_id: 'x-fault' })).text];
    const act = await svc.post('activate', { subscriber_id: 'x-fault', username: 'x-fault@isp.example', cpe_id: 'CPE-F' });
    assert.match(act.text, /rejected/, 'the fault reached the answer');
    answers.push(act.text, (await svc.get('lifecycle/x-fault/events')).text);
    assert.equal(leaks(answers.join('\n')), [], 'answers');
    assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
  } finally {
    await svc?.close();
    await closed(server);
  }
});

test.run();
