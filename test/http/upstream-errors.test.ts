// A 502 (or a refusal's 409) names the peer and its status, never the peer's body: NetBox's answer may carry internals
// (a stack, a query, someone's data). The body goes to the warn log, with the token redacted.
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { createHttpServer } from '../../http/server.ts';
import { loggerOptions } from '../../runtime/log-context.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { BASE, TOKEN } from './support.ts';

const test = suite('http upstream errors');
const MARK = 'injected fault'; // the body the test NetBox answers a fault with
let netbox: NetboxServer;
let svc: Composed;
let origin: string;
let close: () => Promise<void>;
const lines: string[] = [];

test.before(async () => {
  netbox = await startNetboxServer();
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  const dir = mkdtempSync(join(tmpdir(), 'upstream-'));
  const log = pino(loggerOptions('debug'), { write: (l: string) => void lines.push(l) });
  svc = await compose(
    parseConfig({
      database: join(dir, 'x.sqlite'),
      netbox: { url: netbox.url, timeout_ms: 1000 },
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: parent.id } }],
    }),
    { log, env: { NETBOX_TOKEN: V1_TOKEN, IPV6_LIFECYCLE_API_TOKEN: TOKEN } },
  );
  await svc.start();
  const server = createHttpServer(svc.app.callback(), log);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await svc.stop();
    await netbox.close();
    rmSync(dir, { recursive: true, force: true });
  };
});
test.after(async () => {
  await close();
});

async function allocate(subscriber: string) {
  const res = await fetch(`${origin}${BASE}/allocate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subscriber_id: subscriber }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function lifecycle(subscriber: string) {
  const res = await fetch(`${origin}${BASE}/lifecycle/${subscriber}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  return (await res.json()) as any;
}

for (const status of [500, 400]) {
  test(`NetBox answering ${status} → ${status >= 500 ? '502 upstream_unavailable' : '409 upstream_rejected (failed for good)'} naming NetBox and ${status}, not its body; the body is in the warn log`, async () => {
    // As many faults as the step tries: 2 attempts (retry.attempts) for a 5xx, one for a 4xx.
    netbox.failNext(status >= 500 ? 2 : 1, { status, path: /available-prefixes/ });
    const before = lines.length;
    const r = await allocate(`up-${status}`);
    assert.equal([r.status, r.body.error.code], status >= 500 ? [502, 'upstream_unavailable'] : [409, 'upstream_rejected'], JSON.stringify(r.body));
    assert.match(r.body.error.message, /NetBox/);
    assert.match(r.body.error.message, new RegExp(`\\b${status}\\b`));
    assert.not.match(r.body.error.message, MARK, 'the peer’s body is not echoed');
    const failure = (await lifecycle(`up-${status}`)).failure;
    assert.ok(failure, 'the lifecycle failed');
    assert.not.match(failure.message, MARK, 'nor in the resource’s failure');
    const logged = lines.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const warn = logged.find((l) => l.level === 'warn' && JSON.stringify(l).includes(MARK));
    assert.ok(warn, 'the peer’s body is in a warn line');
    assert.not.match(lines.slice(before).join('\n'), V1_TOKEN, 'without the token');
  });
}

test.run();
