// compose()'s start-up against a NetBox that is down: the service starts anyway, `/readyz` answers
// 503 with the reason while the pool parents are resolved again with backoff, then becomes ready.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { startNetboxServer, V1_TOKEN } from './support/netbox-server.ts';

const test = suite('compose: start-up with a peer down');

test('NetBox answers 503 while pool parents are resolved: start() succeeds, /readyz 503 with the reason, ready once NetBox answers', async () => {
  const netbox = await startNetboxServer();
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  // More failures than the first round's two attempts: the rest are met by the background resolution.
  netbox.failNext(6, { path: /\/api\/ipam\/prefixes\// });
  const dir = mkdtempSync(join(tmpdir(), 'compose-'));
  const svc = await compose(
    parseConfig({
      database: join(dir, 'x.sqlite'),
      retry: { attempts: 2, base_ms: 20, max_ms: 60 },
      netbox: { url: netbox.url, timeout_ms: 1000 },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
    }),
    { log: pino({ level: 'silent' }), env: { NETBOX_TOKEN: V1_TOKEN, IPV6_LIFECYCLE_API_TOKEN: 'compose-test-token-123' } },
  );
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    await svc.start();
    assert.not.ok(svc.ready(), 'not ready while NetBox refuses');
    const notReady = await fetch(`${origin}/readyz`);
    assert.is(notReady.status, 503);
    const body = (await notReady.json()) as { error: { code: string; message: string } };
    assert.is(body.error.code, 'unavailable');
    assert.match(body.error.message, /resolving the IPAM pools/);
    assert.match(body.error.message, /503/);
    const deadline = Date.now() + 10_000;
    while (!svc.ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.is((await fetch(`${origin}/readyz`)).status, 200);
    const allocated = await fetch(`${origin}/api/v1/network/ipv6/allocate`, {
      method: 'POST',
      headers: { authorization: 'Bearer compose-test-token-123', 'content-type': 'application/json' },
      body: JSON.stringify({ subscriber_id: 'after-outage' }),
    });
    assert.is(allocated.status, 201);
  } finally {
    server.closeAllConnections();
    server.close();
    await svc.stop();
    await netbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('store.backend postgresql without its URL variable → refused at start naming the variable, and no SQLite file is created', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'compose-'));
  try {
    const config = parseConfig({ database: join(dir, 'x.sqlite'), store: { backend: 'postgresql' } });
    let err: unknown = null;
    await compose(config, { log: pino({ level: 'silent' }), env: {} }).catch((e: unknown) => (err = e));
    assert.match(String(err), /store\.backend is postgresql, but IPV6_LIFECYCLE_DATABASE_URL \(store\.url_env\) is not set/);
    assert.equal(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('store defaults → sqlite, the URL from IPV6_LIFECYCLE_DATABASE_URL, 10 connections, 15 s leases', () => {
  assert.equal(parseConfig({}).store, { backend: 'sqlite', url_env: 'IPV6_LIFECYCLE_DATABASE_URL', pool_max: 10, lease_ms: 15_000, leader_interval_ms: 1000 });
});

test.run();
