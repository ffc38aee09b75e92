// Review 10: NetBox and the GenieACS NBI failing in every way while the service runs: 401/403/500
// bodies echoing the request's headers (Authorization included), a redirect to another host, a
// huge body, a body that is not JSON, a reset connection, a hung socket, refused connections, and
// TLS spoken to a plain port. The whole debug log, every API answer and /metrics must hold no
// secret (nor its base64 or URL-encoded form), and the redirect must not carry one to the other host.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { startService, TOKEN, type Service } from '../review7/support.ts';
import { startNetboxServer } from '../support/netbox-server.ts';

const NETBOX_TOKEN = 'nbt_R10key0001.Zq8Xv7Cb6Nm5Lk4Jh3Gf2Ds1Aq0Wp9Oi';
const METRICS_TOKEN = 'review10-metrics-token-7f3e9a';
const ACS = { ACS_USER: 'acs-operator', ACS_PASSWORD: 'acs-Pa55+word/review10' };
const basic = Buffer.from(`${ACS.ACS_USER}:${ACS.ACS_PASSWORD}`).toString('base64');
const ENV = { NETBOX_TOKEN, ...ACS, METRICS_TOKEN };
// From its 21st character on, the basic auth's base64 encodes the password (the user name is no secret).
const forms = [NETBOX_TOKEN, ACS.ACS_PASSWORD, TOKEN, METRICS_TOKEN]
  .flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')])
  .concat(basic.slice(20));

/** Any 12 characters in a row of a secret's forms found in `text`. */
function leaks(text: string): string[] {
  const found = new Set<string>();
  for (const s of forms) for (let i = 0; i + 12 <= s.length; i++) if (text.includes(s.slice(i, i + 12))) found.add(s.slice(i, i + 12));
  return [...found];
}

type Mode = 'healthy' | '401' | '403' | '500' | 'redirect' | 'huge' | 'html' | 'reset' | 'hang';
const MODES: Mode[] = ['401', '403', '500', 'redirect', 'huge', 'html', 'reset', 'hang'];

interface Peer {
  url: string;
  mode: Mode;
  /** The Authorization headers the host a redirect points to was sent. */
  elsewhere: string[];
  /** Stops listening: every connection from now on is refused. */
  refuse(): Promise<void>;
  close(): Promise<void>;
}

const listen = async (s: Server) => {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
};
const closed = (s: Server) => (s.closeAllConnections(), new Promise<void>((resolve) => s.close(() => resolve())));

/** A peer failing as `mode` says, or (`healthy`) passing requests on to `upstream`. */
async function faultyPeer(upstream: string | null): Promise<Peer> {
  const elsewhere: string[] = [];
  const other = createServer((req, res) => (elsewhere.push(String(req.headers.authorization ?? '')), res.end('{}')));
  const otherUrl = await listen(other);
  const echo = (req: IncomingMessage) => JSON.stringify({ detail: `refused ${req.headers.authorization}`, headers: req.headers });
  const answer = (req: IncomingMessage, res: ServerResponse) => {
    const mode = peer.mode;
    if (mode === 'healthy' && upstream) {
      const up = request(upstream + req.url, { method: req.method, headers: req.headers }, (r) => (res.writeHead(r.statusCode ?? 502, r.headers), r.pipe(res)));
      return void req.pipe(up);
    }
    if (mode === 'hang') return void req.resume();
    if (mode === 'reset') return void req.socket.destroy();
    req.resume();
    req.on('end', () => {
      if (mode === 'redirect') return void res.writeHead(307, { location: `${otherUrl}${req.url}` }).end();
      if (mode === 'html') return void res.writeHead(200, { 'content-type': 'text/html' }).end(`<html>${req.headers.authorization}</html>`);
      if (mode === 'huge') return void res.writeHead(500, { 'content-type': 'text/plain' }).end(`${echo(req)}${'y'.repeat(4 << 20)}${echo(req)}`);
      res.writeHead(mode === 'healthy' ? 404 : Number(mode), { 'content-type': 'application/json', 'www-authenticate': String(req.headers.authorization) });
      res.end(echo(req));
    });
  };
  const server = createServer(answer);
  const url = await listen(server);
  const peer: Peer = {
    url,
    mode: 'healthy',
    elsewhere,
    refuse: () => closed(server),
    close: async () => (server.listening ? closed(server) : undefined, closed(other)),
  };
  return peer;
}

/** Runs `op` once per fault mode (then refused), keeping every answer; checks answers, log, /metrics. */
async function sweep(svc: Service, peer: Peer, op: (n: string) => Promise<{ text: string }[]>): Promise<void> {
  const answers: string[] = [];
  for (const mode of [...MODES, 'refused' as const]) {
    if (mode === 'refused') await peer.refuse();
    else peer.mode = mode;
    for (const a of await op(mode)) answers.push(a.text);
  }
  const metrics = await fetch(`${svc.origin}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
  // Its status is not the point here (it reads the IPAM's usage, which may be down).
  answers.push(await metrics.text());
  assert.equal(peer.elsewhere, [], 'a redirect is not followed: nothing reaches the other host');
  assert.equal(leaks(answers.join('\n')), [], 'API answers and /metrics');
  assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
}

const test = suite('review10: secrets while NetBox and the NBI fail in every way');

test('NetBox failing in every way: no secret in the log, an answer or /metrics, none sent on by a redirect', async () => {
  const netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), tokens: [NETBOX_TOKEN] });
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  const peer = await faultyPeer(netbox.url);
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      api: { metrics_token_env: 'METRICS_TOKEN' },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
      netbox: { url: peer.url, timeout_ms: 300, allocate_timeout_ms: 300 },
    }), { env: ENV });
    const s = svc;
    assert.is((await s.post('allocate', { subscriber_id: 'nb-held' })).status, 201);
    await sweep(s, peer, async (mode) => {
      const a = await s.post('allocate', { subscriber_id: `nb-${mode}` });
      assert.ok(a.status >= 400, `${mode}: ${a.text}`);
      return [a, await s.post('revoke', { subscriber_id: 'nb-held' }), await s.get(`lifecycle/nb-${mode}/events`)];
    });
    assert.ok(s.logs.some((l) => l.includes('[redacted]')), 'an echoing body reached a warn line, redacted');
  } finally {
    await svc?.close();
    await peer.close();
    await netbox.close();
  }
});

test('the NBI failing in every way: no secret in the log, an answer or /metrics, none sent on by a redirect', async () => {
  const peer = await faultyPeer(null);
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      api: { metrics_token_env: 'METRICS_TOKEN' },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      genieacs: { url: peer.url, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD', timeout_ms: 1000, task_timeout_ms: 0 },
    }), { env: ENV });
    const s = svc;
    await sweep(s, peer, async (mode) => {
      const id = `acs-${mode}`;
      const out = [await s.post('allocate', { subscriber_id: id })];
      out.push(await s.post('activate', { subscriber_id: id, username: `${id}@isp.example`, cpe_id: `CPE-${mode}` }));
      // An HTML 200 is taken as a task done (left alone here: not a secret).
      if (mode !== 'html') assert.ok(out[1]!.status >= 400, `${mode}: ${out[1]!.text}`);
      out.push(await s.get(`lifecycle/${id}/events`));
      return out;
    });
    assert.ok(s.logs.some((l) => l.includes('[redacted]')), 'an echoing body reached a warn line, redacted');
  } finally {
    await svc?.close();
    await peer.close();
  }
});

test('https:// to a plain port (TLS fails) for NetBox and the NBI: no secret in the log or an answer', async () => {
  const peer = await faultyPeer(null);
  peer.mode = '401';
  const tls = peer.url.replace('http:', 'https:');
  let svc: Service | undefined;
  try {
    svc = await startService(() => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: 1 } }],
      netbox: { url: tls, timeout_ms: 300 },
      genieacs: { url: tls, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD', timeout_ms: 1000, task_timeout_ms: 0 },
    }), { env: ENV });
    const a = await svc.post('allocate', { subscriber_id: 'tls-1' });
    assert.ok(a.status >= 500, a.text);
    assert.ok(svc.logs.some((l) => /EPROTO|SSL|TLS/i.test(l)), 'the TLS failure is named in the log');
    assert.equal(leaks(a.text), [], 'answer');
    assert.equal(leaks(svc.logs.join('\n')), [], 'log lines');
  } finally {
    await svc?.close();
    await peer.close();
  }
});

test.run();
