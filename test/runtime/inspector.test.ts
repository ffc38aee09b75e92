import { createServer, connect } from 'node:net';
import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness } from '../http/support.ts';

// The Stately inspector bridge shows every lifecycle's events and context to whoever connects, with
// no authentication: it binds loopback unless `inspector.host` says otherwise, and says so at warn.

const test = suite('runtime inspector bridge');

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as { port: number };
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const reachable = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const c = connect({ host, port });
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });

/** An address of this host that is not loopback (the machine's own network address). */
const outside = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

test('by default the bridge listens on loopback only, and warns what it exposes', async () => {
  const port = await freePort();
  const h = await startHarness({ config: { inspector: { enabled: true, port } } });
  try {
    assert.ok(await reachable('127.0.0.1', port), 'reachable on loopback');
    if (outside) assert.not.ok(await reachable(outside, port), `not reachable on ${outside}`);
    const warned = h.logs.filter((l) => l.level === 'warn' && /inspector/i.test(String(l.msg)));
    assert.is(warned.length, 1, 'one warning');
    assert.equal([warned[0]!.host, warned[0]!.port], ['127.0.0.1', port]);
    assert.match(String(warned[0]!.msg), /every lifecycle's events and context/);
  } finally {
    await h.close();
  }
});

test('inspector.host 0.0.0.0 listens on every interface; a client gets the lifecycles’ events', async () => {
  const port = await freePort();
  const h = await startHarness({ config: { inspector: { enabled: true, host: '0.0.0.0', port } } });
  try {
    if (outside) assert.ok(await reachable(outside, port), `reachable on ${outside}`);
    // A browser's side of the bridge: whatever the service sends comes through.
    const { WebSocket } = createRequire(import.meta.resolve('@statelyai/inspect'))('ws') as { WebSocket: new (url: string) => any };
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    const got: string[] = [];
    ws.on('message', (m: Buffer) => got.push(m.toString()));
    await new Promise((resolve) => ws.once('open', resolve));
    await h.post('allocate', { subscriber_id: 'inspected' });
    const deadline = Date.now() + 2000;
    while (!got.some((m) => m.includes('inspected')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    ws.close();
    assert.ok(got.some((m) => m.includes('inspected')), `the subscriber's events reach the client (${got.length} messages)`);
    assert.ok(got.every((m) => String(JSON.parse(m).type).startsWith('@xstate.')), 'as the inspector reads them');
  } finally {
    await h.close();
  }
});

test.run();
