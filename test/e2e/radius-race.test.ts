// Invariant 1 of issue 8, end to end: a prefix is never on two subscribers at once. Allocations and
// updates race revocations over a pool small enough that every freed prefix is handed out again at
// once (hold-down 0), for the embedded IPAM and for NetBox in delete mode, while a sampler asks a
// real FreeRADIUS for every user with rows and reads radreply and the store at single instants.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig, type ConfigInput } from '../../config.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import type { RadiusReplyPort } from '../../services/radius/port.ts';
import { createRadiusReplyStore } from '../../services/radius/reply-store.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { reused, sandwiched, startRaceSampler } from '../support/race-sampler.ts';

const TOKEN = 'e2e-race-token-0123456789';
const BASE = '/api/v1/network/ipv6';
const PASSWORD = 'pw';
// 16 delegated /56 in a /52: with 8 lifecycles live and a wave of 3 + 3 + 1 in flight, the pool
// never runs out, and first fit hands every freed block to the next allocation.
const POOL = { name: 'small', prefix: '2001:db8:100::/52', prefix_length: 56, hold_down_s: 0 };
const LIVE = 8;
const WAVES = 8;

interface Race {
  peer: FreeRadiusPeer;
  netbox: NetboxServer | null;
  composed: Composed;
  server: Server;
  origin: string;
  dir: string;
  closeReplies(): void;
}

/**
 * The real reply store behind a RADIUS database far away: every write or delete lands 0-150 ms
 * late (a seeded sequence, so a run can be repeated). It widens, never closes, the window in which
 * an early release would show: the removal of the old user's rows is what such latency delays.
 */
function remote(real: RadiusReplyPort, seed = 8): RadiusReplyPort {
  let x = seed;
  const lag = () => new Promise((r) => setTimeout(r, ((x = (x * 1103515245 + 12345) % 2147483648) % 151)));
  return {
    writeReply: async (cmd, signal) => (await lag(), real.writeReply(cmd, signal)),
    removeReply: async (cmd, signal) => (await lag(), real.removeReply(cmd, signal)),
  };
}

async function start(ipam: 'embedded' | 'netbox'): Promise<Race> {
  const peer = await startFreeRadius();
  const dir = mkdtempSync(path.join(tmpdir(), 'e2e-race-'));
  let netbox: NetboxServer | null = null;
  let pool: NonNullable<ConfigInput['pools']>[number] = POOL;
  const extra: Partial<ConfigInput> = {};
  if (ipam === 'netbox') {
    netbox = await startNetboxServer({ customFields: Object.values(MARK_FIELDS) });
    const parent = netbox.addPrefix({ prefix: POOL.prefix, status: 'container' });
    pool = { ...POOL, netbox: { parent_id: parent.id } };
    extra.netbox = { url: netbox.url, timeout_ms: 2000, release: { mode: 'delete' } };
  }
  const config = parseConfig({
    database: path.join(dir, 'lifecycle.sqlite'),
    pools: [pool],
    retry: { attempts: 3, base_ms: 1, max_ms: 5 },
    // first64: Framed-IPv6-Prefix is written too, so both attributes are watched.
    radius: { sql: { path: peer.dbPath }, reply: { framed_prefix: 'first64' } },
    ...extra,
  });
  const log = pino({ level: 'silent' });
  const replies = createRadiusReplyStore(config.radius!, log);
  const composed = await compose(config, {
    log,
    env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN, NETBOX_TOKEN: V1_TOKEN },
    overrides: { cpe: null, replies: remote(replies) },
  });
  await composed.start();
  const server = createServer(composed.app.callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { peer, netbox, composed, server, dir, closeReplies: () => replies.close(), origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function stop(r: Race): Promise<void> {
  r.server.closeAllConnections();
  await new Promise<void>((done) => r.server.close(() => done()));
  await r.composed.stop();
  r.closeReplies();
  await r.peer.stop();
  await r.netbox?.close();
  rmSync(r.dir, { recursive: true, force: true });
}

async function op(r: Race, verb: string, json: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${r.origin}${BASE}/${verb}?wait=10000`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(json),
  });
  return { status: res.status, body: await res.json() };
}

/** Allocates and activates subscriber `n` as user `u<n>`; answers the prefix. */
async function bringUp(r: Race, n: number): Promise<string> {
  r.peer.addUser(`u${n}`, PASSWORD);
  const a = await op(r, 'allocate', { subscriber_id: `s${n}` });
  assert.is(a.status, 201, `allocate s${n}: ${JSON.stringify(a.body)}`);
  const b = await op(r, 'activate', { subscriber_id: `s${n}`, username: `u${n}` });
  assert.equal([b.status, b.body.state], [200, 'active'], `activate s${n}: ${JSON.stringify(b.body)}`);
  return b.body.prefix as string;
}

async function race(r: Race): Promise<void> {
  const live: number[] = [];
  let next = 0;
  for (; next < LIVE; next++) live.push(next);
  await Promise.all(live.map((n) => bringUp(r, n)));

  const sampler = startRaceSampler({
    radius: { host: r.peer.host, port: r.peer.ports.auth, secret: r.peer.secret, dbPath: r.peer.dbPath },
    password: PASSWORD,
    store: r.composed.db,
  });
  let revoked = 0;
  try {
    for (let wave = 0; wave < WAVES; wave++) {
      // The oldest three go, three new ones come, and one that stays moves to a new prefix.
      const going = live.splice(0, 3);
      const coming = [next++, next++, next++];
      const moving = live[wave % live.length]!;
      sampler.unstable.add(`u${moving}`);
      await Promise.all([
        ...going.map(async (n) => {
          const v = await op(r, 'revoke', { subscriber_id: `s${n}` });
          assert.equal([v.status, v.body.state], [200, 'revoked'], `revoke s${n}: ${JSON.stringify(v.body)}`);
          revoked++;
        }),
        ...coming.map((n) => bringUp(r, n)),
        op(r, 'update', { subscriber_id: `s${moving}` }).then((u) => assert.equal([u.status, u.body.state], [200, 'active'], `update s${moving}`)),
      ]);
      live.push(...coming);
    }
  } finally {
    await sampler.stop();
  }

  // Both in one assertion, so a failure shows what each witness saw.
  assert.equal(
    { 'radreply and the store': sampler.violations, 'FreeRADIUS answers': sandwiched(sampler.observations, sampler.unstable) },
    { 'radreply and the store': [], 'FreeRADIUS answers': [] },
    'one prefix on two users at one moment',
  );
  // The race was a race: the sampler saw much, and blocks did go from one user to another.
  assert.is(revoked, 3 * WAVES);
  assert.ok(sampler.rounds() >= 20, `only ${sampler.rounds()} sampling rounds`);
  assert.ok(reused(sampler.observations) >= 3, `only ${reused(sampler.observations)} prefixes were answered for a second user`);
}

if (peerAvailable('e2e: allocations race revocations, as FreeRADIUS answers')) {
  const test = suite('e2e: allocations race revocations, as FreeRADIUS answers');

  for (const ipam of ['embedded', 'netbox'] as const) {
    test(`${ipam} IPAM, hold-down 0: FreeRADIUS never answers one prefix for two users`, async () => {
      const r = await start(ipam);
      try {
        await race(r);
        if (r.netbox) {
          const ours = r.netbox.prefixes().filter((p) => p.tags.includes('ipv6-lifecycle'));
          assert.is(ours.length, LIVE, 'NetBox ends holding exactly the live lifecycles\' prefixes');
          assert.ok(ours.every((p) => p.status === 'active'), 'nothing left quarantined');
        }
      } finally {
        await stop(r);
      }
    });
  }

  test.run();
}
