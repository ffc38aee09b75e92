// The composed service with an ACS (a stub speaking GenieACS's NBI), driven through the REST API:
// DHCPv6-PD turned on at activation and off at revocation; an offline CPE is a pending step that the
// scheduler completes after the CPE's next inform.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';

const TOKEN = 'e2e-token';
const test = suite('e2e: lifecycle through the REST API with GenieACS');
let acs: GenieacsNbi;
let svc: Composed;
let server: Server;
let origin: string;
let dir: string;

const call = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${origin}/api/v1/network/ipv6/${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
};
const pd = (id: string) => [acs.value(id, 'Device.DHCPv6.Client.1.Enable'), acs.value(id, 'Device.DHCPv6.Client.1.RequestPrefixes'), acs.value(id, 'Device.IP.Interface.2.IPv6Enable')];

test.before.each(async () => {
  acs = await startGenieacsNbi();
  dir = mkdtempSync(join(tmpdir(), 'e2e-acs-'));
  const config = parseConfig({
    database: join(dir, 'svc.sqlite'),
    genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 500 },
    retry: { attempts: 2, base_ms: 1, max_ms: 5 },
    runtime: { pending_interval_ms: 1000 },
  });
  svc = await compose(config, { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN } });
  await svc.start();
  server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.after.each(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await svc.stop();
  await acs.close();
  rmSync(dir, { recursive: true, force: true });
});

test('activate turns DHCPv6-PD on at the CPE; revoke turns it off', async () => {
  const cpe = acs.addDevice();
  assert.equal(pd(cpe.id), [false, true, false]);
  await call('POST', 'allocate', { subscriber_id: 's1' });
  const active = await call('POST', 'activate', { subscriber_id: 's1', username: 'u1@isp', cpe_id: cpe.id });
  assert.equal([active.status, active.body.state, active.body.pending], [200, 'active', []]);
  assert.equal(pd(cpe.id), [true, true, true]);
  const revoked = await call('POST', 'revoke', { subscriber_id: 's1' });
  assert.equal([revoked.body.state, revoked.body.pending], ['revoked', []]);
  assert.equal(pd(cpe.id), [false, false, false]);
});

test('an offline CPE: active with a pending step, done after its next inform, one task at the ACS', async () => {
  const cpe = acs.addDevice({ mode: 'offline' });
  await call('POST', 'allocate', { subscriber_id: 's2' });
  const active = await call('POST', 'activate', { subscriber_id: 's2', username: 'u2@isp', cpe_id: cpe.id });
  assert.is(active.body.state, 'active');
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
  assert.is(acs.tasks(cpe.id).length, 1);
  await svc.tickPending(); // still offline: deferred, the same task (uniqueKey) replaced, not piled up
  assert.is(acs.tasks(cpe.id).length, 1);
  acs.inform(cpe.id); // the CPE comes back and runs its queued task
  assert.equal(pd(cpe.id), [true, true, true]);
  // Make the deferred step due now rather than waiting out its backoff.
  svc.host.stopAll();
  const row = svc.store.live('s2')!;
  const snapshot = JSON.parse(row.snapshot);
  snapshot.context.pending[0].next_attempt_at = new Date(0).toISOString();
  svc.store.save({ ...row, next_pending_at: new Date(0).toISOString(), snapshot: JSON.stringify(snapshot) }, null);
  await svc.tickPending();
  const done = await call('GET', 'lifecycle/s2');
  assert.equal(done.body.pending, []);
});

test('a CPE the ACS has never seen: activation succeeds with the CPE step pending', async () => {
  await call('POST', 'allocate', { subscriber_id: 's3' });
  const active = await call('POST', 'activate', { subscriber_id: 's3', username: 'u3@isp', cpe_id: '00D09E-NEVER-SEEN1' });
  assert.is(active.body.state, 'active');
  assert.equal(active.body.pending.map((p: { step: string }) => p.step), ['cpe_configure_pd']);
});

test.run();
