// At the size of a real ISP's node (≥ 200k prefixes held in the embedded IPAM): the scrape, the API
// metrics summary, the leak check and the clean-up answer, through the real composition and HTTP.
// At about 122k held they answered 500 (a spread push of every IPAM holding overflowed the stack).
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fillHeld, SCAN_POOL } from '../../bench/scans.ts';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { createHttpServer } from '../../http/server.ts';
import { openDatabase } from '../../store/db.ts';

const HELD = 200_000;
const TOKEN = 'scale-token-0123456789';
const test = suite('runtime at scale: 200k prefixes held');
let dir: string;
let composed: Composed;
let server: Server;
let origin: string;
const logs: string[] = [];

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'scale-'));
  const file = join(dir, 'x.sqlite');
  const db = openDatabase(file);
  fillHeld(db, HELD);
  db.close();
  const config = parseConfig({ database: file, pools: [{ name: SCAN_POOL.name, prefix: SCAN_POOL.prefix, prefix_length: SCAN_POOL.prefixLength }] });
  const log = pino({ level: 'warn' }, { write: (l: string) => void logs.push(l) });
  composed = await compose(config, { log, env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN } });
  await composed.start();
  server = createHttpServer(composed.app.callback(), log);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await composed.stop();
  rmSync(dir, { recursive: true, force: true });
});

const get = async (path: string) => {
  const res = await fetch(origin + path, { headers: { authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, text: await res.text() };
};

test('the API metrics summary answers with every held prefix counted and no leak', async () => {
  const res = await get('/api/v1/network/ipv6/metrics');
  assert.is(res.status, 200, res.text.slice(0, 300));
  const body = JSON.parse(res.text);
  assert.is(body.pools[0].allocated, HELD);
  assert.is(body.states.active, HELD);
  assert.is(body.leaks, 0);
});

test('GET /metrics answers with the pool gauges', async () => {
  const res = await get('/metrics');
  assert.is(res.status, 200, res.text.slice(0, 300));
  assert.match(res.text, new RegExp(`^ipv6_pool_allocated_prefixes\\{pool="${SCAN_POOL.name}"\\} ${HELD}$`, 'm'));
  assert.match(res.text, /^ipv6_lifecycle_leaked_prefixes 0$/m);
});

test('the leak check and the clean-up run to the end and find nothing', async () => {
  const found = await composed.cleanup();
  assert.equal([found.revoked, found.reclaimed], [0, 0]);
  assert.is(logs.filter((l) => /"level":(40|50)/.test(l) && !/no (radius section|ACS configured)/.test(l)).length, 0, logs.slice(-3).join('\n'));
});

test('a prefix held for a lifecycle that does not hold it is found among 200k and reclaimed', async () => {
  const row = composed.store.get('lc-00000007')!;
  composed.store.save({ ...row, state: 'revoked', revoked_at: new Date().toISOString() }, null);
  const found = await composed.cleanup();
  assert.is(found.reclaimed, 1);
  const body = JSON.parse((await get('/api/v1/network/ipv6/metrics')).text);
  // Freed into its hold-down: still counted as allocated (no one can take it yet), now as held down.
  assert.equal([body.pools[0].allocated, body.pools[0].held_down], [HELD, 1]);
  assert.is(body.leaks, 0);
});

test.run();
