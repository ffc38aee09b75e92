// A pool removed from the configuration while lifecycles still use it: it drains. The start-up log
// warns, naming it and how many live lifecycles use it; it takes no new allocation; revocation,
// suspension and release on it still work; GET metrics shows it `draining` until its last user is gone.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from './support/netbox-server.ts';

const TOKEN = 'draining-test-token-1234';
const A = { name: 'a', prefix: '2001:db8:a::/48', prefix_length: 56 };
const B = { name: 'b', prefix: '2001:db8:b::/48', prefix_length: 56 };

interface Running {
  svc: Composed;
  server: Server;
  logs: Record<string, unknown>[];
  post(path: string, body: unknown): Promise<{ status: number; body: any }>;
  get(path: string): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

async function run(dir: string, pools: unknown[], extra: Record<string, unknown> = {}): Promise<Running> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => (logs.push(JSON.parse(String(chunk))), cb()) });
  const svc = await compose(
    parseConfig({ database: join(dir, 'x.sqlite'), retry: { attempts: 2, base_ms: 10, max_ms: 20 }, pools, ...extra }),
    { log: pino({ level: 'info' }, sink), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, NETBOX_TOKEN: V1_TOKEN } },
  );
  await svc.start();
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/network/ipv6`;
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${base}/${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } });
    return { status: res.status, body: await res.json() };
  };
  return {
    svc,
    server,
    logs,
    post: (path, body) => call(path, { method: 'POST', body: JSON.stringify(body) }),
    get: (path) => call(path),
    async close() {
      server.closeAllConnections();
      server.close();
      await svc.stop();
    },
  };
}

const test = suite('compose: a pool removed from the configuration drains');

test('lifecycles on a removed pool still revoke and suspend, it takes no allocation, the start warns, metrics show it draining until empty', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'draining-'));
  let svc: Running | null = null;
  try {
    svc = await run(dir, [A, B]);
    for (const sub of ['s1', 's2']) assert.is((await svc.post('allocate', { subscriber_id: sub, pool: 'a' })).status, 201);
    assert.is((await svc.post('allocate', { subscriber_id: 's3', pool: 'b' })).status, 201);
    await svc.close();

    svc = await run(dir, [B]);
    const revoked = await svc.post('revoke', { subscriber_id: 's1', reason: 'terminated' });
    assert.is(revoked.status, 200, JSON.stringify(revoked.body));
    assert.is(revoked.body.state, 'revoked', JSON.stringify(revoked.body));
    const suspended = await svc.post('activate', { subscriber_id: 's2', username: 's2@example.net' });
    assert.is(suspended.body.state, 'active', JSON.stringify(suspended.body));
    assert.is((await svc.post('suspend', { subscriber_id: 's2', reason: 'unpaid' })).body.state, 'suspended');

    const refused = await svc.post('allocate', { subscriber_id: 's4', pool: 'a' });
    assert.is(refused.status, 404);
    assert.is(refused.body.error.code, 'not_found');
    assert.is(refused.body.error.field, 'pool');
    assert.match(refused.body.error.message, /pool "?a"? is draining/);
    // An update keeps the subscriber's pool unless it names one: on a draining pool, it must name one.
    assert.is((await svc.post('reactivate', { subscriber_id: 's2' })).body.state, 'active');
    const stay = await svc.post('update', { subscriber_id: 's2' });
    assert.equal([stay.status, stay.body.error?.field], [404, 'pool']);
    assert.match(stay.body.error.message, /draining/);

    const listed = await svc.get('lifecycle?pool=a');
    assert.is(listed.status, 200, 'a draining pool can still be listed, to find who is left');
    assert.equal(listed.body.items.map((l: { subscriber_id: string }) => l.subscriber_id).sort(), ['s1', 's2']);

    const warned = svc.logs.filter((l) => l.level === 40 && l.pool === 'a');
    assert.is(warned.length, 1, JSON.stringify(svc.logs));
    assert.is(warned[0]!.lifecycles, 2);
    assert.match(String(warned[0]!.msg), /removed from the configuration/);
    assert.not.ok(svc.logs.some((l) => l.level === 40 && l.pool === 'b'), 'a configured pool is not draining');

    const before = (await svc.get('metrics')).body.pools as Array<Record<string, unknown>>;
    assert.equal(
      before.map((p) => [p.name, p.draining]),
      [['b', false], ['a', true]],
    );
    const a = before.find((p) => p.name === 'a')!;
    assert.equal([a.prefix, a.prefix_length, a.capacity, a.allocated, a.utilization_percent], ['2001:db8:a::/48', 56, 0, 1, 0]);

    // The last user moves away (an update naming a configured pool) and its old prefix is released.
    const moved = await svc.post('update', { subscriber_id: 's2', pool: 'b' });
    assert.is(moved.body.state, 'active', JSON.stringify(moved.body));
    assert.is(moved.body.pool, 'b');
    const after = (await svc.get('metrics')).body.pools as Array<Record<string, unknown>>;
    assert.equal(after.map((p) => p.name), ['b'], 'an empty draining pool disappears');
    await svc.close();
    svc = null;
    const db = new Database(join(dir, 'x.sqlite'), { readonly: true });
    try {
      assert.equal(db.prepare("SELECT prefix FROM ipam_allocations WHERE pool = 'a'").all(), [], 'every prefix of pool a is released');
      assert.equal(db.prepare("SELECT prefix FROM ipam_quarantine WHERE pool = 'a' AND freed_at IS NULL").all(), [], 'none left quarantined');
    } finally {
      db.close();
    }
  } finally {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a NetBox pool removed from the configuration drains too: its revocation frees the NetBox prefix by mark and id, no parent needed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'draining-nb-'));
  let netbox: NetboxServer | null = null;
  let svc: Running | null = null;
  try {
    netbox = await startNetboxServer();
    const parent = netbox.addPrefix({ prefix: '2001:db8:a::/48', status: 'container' });
    const nb = { netbox: { url: netbox.url, timeout_ms: 1000, release: { mode: 'delete' } } };
    svc = await run(dir, [{ ...A, netbox: { parent_id: parent.id } }, B], nb);
    const got = await svc.post('allocate', { subscriber_id: 'n1', pool: 'a' });
    assert.is(got.status, 201, JSON.stringify(got.body));
    assert.ok(netbox.prefixes().some((p) => p.prefix === got.body.prefix));
    await svc.close();
    svc = null;

    // Without the netbox section nothing could give the prefix back: the start is refused, naming the pool and the count.
    const refused = await run(dir, [B]).then(
      () => null,
      (e: unknown) => e as Error,
    );
    assert.instance(refused, Error);
    assert.match(refused!.message, /"a" \(1 live lifecycle\(s\)\) hold prefixes in NetBox/);

    svc = await run(dir, [B], nb);
    assert.ok(svc.logs.some((l) => l.level === 40 && l.pool === 'a' && l.lifecycles === 1), 'the start warns');
    assert.is((await svc.post('allocate', { subscriber_id: 'n2', pool: 'a' })).status, 404);
    const revoked = await svc.post('revoke', { subscriber_id: 'n1' });
    assert.is(revoked.body.state, 'revoked', JSON.stringify(revoked.body));
    assert.not.ok(netbox.prefixes().some((p) => p.prefix === got.body.prefix), 'the NetBox prefix is deleted');
    assert.equal(((await svc.get('metrics')).body.pools as { name: string }[]).map((p) => p.name), ['b']);
  } finally {
    await svc?.close();
    await netbox?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
