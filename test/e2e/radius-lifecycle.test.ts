// The whole service, as compose() wires it from configuration, against a real FreeRADIUS: the
// HTTP operations change what an Access-Request gets back and what the NAS is told, and the
// outcomes land in the audit trail and in the metrics. Only new files here: the core is not ours.
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { accessRequest, accounting } from '../support/radius-client.ts';

const TOKEN = 'e2e-token-0123456789';
const BASE = '/api/v1/network/ipv6';

interface Ctx {
  peer: FreeRadiusPeer;
  composed: Composed;
  server: Server;
  origin: string;
  dir: string;
  logs: string[];
}

async function call(ctx: Ctx, method: string, p: string, json?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(ctx.origin + p, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await res.text();
  return { status: res.status, body: (res.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}
const op = (ctx: Ctx, verb: string, json: unknown) => call(ctx, 'POST', `${BASE}/${verb}?wait=10000`, json);
/** The outcomes the sessions steps recorded in the audit trail, oldest first. */
async function sessionOutcomes(ctx: Ctx, subscriber: string): Promise<{ step: string; output: any[] }[]> {
  const { body } = await call(ctx, 'GET', `${BASE}/lifecycle/${subscriber}/events`);
  return (body.events as { type: string; detail: any }[])
    .filter((e) => e.type === 'STEP_DONE' && /[sS]essions$/.test(String(e.detail?.step)))
    .map((e) => ({ step: e.detail.step, output: e.detail.output }));
}

if (peerAvailable('service end to end with FreeRADIUS')) {
  const test = suite<Ctx>('service end to end with FreeRADIUS', {} as Ctx);

  test.before(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.dir = mkdtempSync(path.join(tmpdir(), 'e2e-radius-'));
    ctx.logs = [];
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const deadPort = s.address().port;
    s.close();
    const config = parseConfig({
      database: path.join(ctx.dir, 'lifecycle.sqlite'),
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      radius: {
        sql: { path: ctx.peer.dbPath },
        dynamic_authorization: {
          timeout_ms: 50,
          retries: 2,
          default_secret_env: 'E2E_COA_SECRET',
          // 127.0.0.2 stands for a NAS whose CoA listener is down.
          nas: [{ address: '127.0.0.1', port: ctx.peer.ports.coa }, { address: '127.0.0.2', port: deadPort }],
        },
      },
    });
    ctx.composed = await compose(config, {
      log: pino({ level: 'debug' }, { write: (l: string) => void ctx.logs.push(l) }),
      env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, E2E_COA_SECRET: ctx.peer.secret },
      overrides: { cpe: null },
    });
    await ctx.composed.start();
    ctx.server = createServer(ctx.composed.app.callback());
    await new Promise<void>((r) => ctx.server.listen(0, '127.0.0.1', r));
    ctx.origin = `http://127.0.0.1:${(ctx.server.address() as AddressInfo).port}`;
  });

  test.after(async (ctx) => {
    ctx.server?.closeAllConnections();
    await new Promise<void>((r) => (ctx.server ? ctx.server.close(() => r()) : r()));
    await ctx.composed?.stop();
    await ctx.peer?.stop();
    if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
    assert.not.ok(ctx.logs.some((l) => l.includes(ctx.peer.secret)), 'a log line carried the CoA secret');
  });

  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');
  const start = (ctx: Ctx, username: string, sessionId: string, nasIp = '127.0.0.1') =>
    accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username, sessionId, nasIp });

  test('activate → suspend → reactivate → update → revoke, as FreeRADIUS and the NAS see it', async (ctx) => {
    ctx.peer.addUser('e2e-alice', 'pw');
    const allocated = await op(ctx, 'allocate', { subscriber_id: 'sub-e2e-1' });
    assert.is(allocated.status, 201);
    const prefix: string = allocated.body.prefix;

    const active = await op(ctx, 'activate', { subscriber_id: 'sub-e2e-1', username: 'e2e-alice' });
    assert.is(active.body.state, 'active');
    assert.equal((await ask(ctx, 'e2e-alice')).delegated, [prefix]);
    await start(ctx, 'e2e-alice', 'e2e-sess-1');

    assert.is((await op(ctx, 'suspend', { subscriber_id: 'sub-e2e-1' })).body.state, 'suspended');
    assert.equal((await ask(ctx, 'e2e-alice')).delegated, []);

    assert.is((await op(ctx, 'reactivate', { subscriber_id: 'sub-e2e-1' })).body.state, 'active');
    assert.equal((await ask(ctx, 'e2e-alice')).delegated, [prefix]);

    const updated = await op(ctx, 'update', { subscriber_id: 'sub-e2e-1' });
    assert.is(updated.body.state, 'active');
    assert.is.not(updated.body.prefix, prefix);
    assert.equal((await ask(ctx, 'e2e-alice')).delegated, [updated.body.prefix]);

    const revoked = await op(ctx, 'revoke', { subscriber_id: 'sub-e2e-1' });
    assert.is(revoked.body.state, 'revoked');
    assert.equal((await ask(ctx, 'e2e-alice')).delegated, []);

    // suspend and revoke disconnect, reactivate and update send CoA (the core's defaults); the
    // stand-in NAS acknowledged each, and the audit trail kept every outcome.
    const outcomes = await sessionOutcomes(ctx, 'sub-e2e-1');
    assert.equal(
      outcomes.map((o) => o.output.map((x) => `${x.action}:${x.result}:${x.session_id}@${x.nas}`)),
      [['disconnect:ack:e2e-sess-1@127.0.0.1'], ['coa:ack:e2e-sess-1@127.0.0.1'], ['coa:ack:e2e-sess-1@127.0.0.1'], ['disconnect:ack:e2e-sess-1@127.0.0.1']],
    );
    assert.match(ctx.peer.log(), new RegExp(`Delegated-IPv6-Prefix = ${updated.body.prefix.replace(/[/.]/g, '\\$&')}`));
  });

  test('revoke of a user the NAS does not know: NAK 503 is recorded as not_found and the revocation completes', async (ctx) => {
    await op(ctx, 'allocate', { subscriber_id: 'sub-e2e-nak' });
    await op(ctx, 'activate', { subscriber_id: 'sub-e2e-nak', username: 'nak-e2e' });
    await start(ctx, 'nak-e2e', 'e2e-sess-nak');
    assert.is((await op(ctx, 'revoke', { subscriber_id: 'sub-e2e-nak' })).body.state, 'revoked');
    const [revoke] = await sessionOutcomes(ctx, 'sub-e2e-nak');
    assert.equal(revoke!.output, [{ session_id: 'e2e-sess-nak', nas: '127.0.0.1', action: 'disconnect', attempts: 1, result: 'not_found', error_cause: 503 }]);
  });

  test('revoke while the NAS does not answer: the lifecycle is revoked, with a warning, an audit entry and a metric', async (ctx) => {
    ctx.peer.addUser('e2e-silent', 'pw');
    await op(ctx, 'allocate', { subscriber_id: 'sub-e2e-silent' });
    await op(ctx, 'activate', { subscriber_id: 'sub-e2e-silent', username: 'e2e-silent' });
    await start(ctx, 'e2e-silent', 'e2e-sess-silent', '127.0.0.2');
    const revoked = await op(ctx, 'revoke', { subscriber_id: 'sub-e2e-silent' });
    assert.is(revoked.status, 200);
    assert.is(revoked.body.state, 'revoked');
    assert.equal((await ask(ctx, 'e2e-silent')).delegated, []);
    const [revoke] = await sessionOutcomes(ctx, 'sub-e2e-silent');
    assert.equal(revoke!.output, [{ session_id: 'e2e-sess-silent', nas: '127.0.0.2', action: 'disconnect', attempts: 3, result: 'no_answer', error_cause: null }]);
    const warned = ctx.logs.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && l.session_id === 'e2e-sess-silent');
    assert.ok(warned.some((l) => l.msg === 'NAS did not answer the dynamic authorization request'), 'the client warned');
    const metrics = await fetch(`${ctx.origin}/metrics`).then((r) => r.text());
    assert.match(metrics, /ipv6_lifecycle_radius_requests_total\{purpose="revoke",action="disconnect",result="no_answer"\} 1/);
  });

  test.run();
}
