// A NAS whose NAS-IP-Address (what radacct.nasipaddress holds) is not where its CoA listener is
// reached: a BNG with a loopback NAS-IP and a management CoA address, or one behind NAT. Read in
// the peers: a real FreeRADIUS writes radacct, a stand-in NAS on 127.0.0.3 answers for 192.0.2.10.
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { parseConfig } from '../../config.ts';
import { signResponse } from '../../services/radius/authenticators.ts';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import type { OpenSession } from '../../services/radius/sessions.ts';
import { startService, type Running } from '../e2e/support.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { accounting } from '../support/radius-client.ts';
import { startStandInNas, type Received, type StandInNas } from '../support/stand-in-nas.ts';

const SECRET = 'bng-secret-review13';
const NAS_IP = '192.0.2.10';
const COA_ADDRESS = '127.0.0.3';

const text = (r: Received, type: number) => r.attributes.find((a) => a.type === type)?.value;
const ipv4 = (b: Buffer | undefined) => (b ? [...b].join('.') : undefined);

const config = suite('review13 radius coa_address configuration');

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected an error');
};
const withNas = (nas: Record<string, unknown>) => ({ radius: { sql: { path: '/tmp/r.sqlite' }, dynamic_authorization: { nas: [{ address: NAS_IP, secret: 's', ...nas }] } } });

config('parseConfig: coa_address is canonicalised, and absent stays absent (requests go to address)', () => {
  const nas = (c: Record<string, unknown>) => parseConfig(withNas(c)).radius!.dynamic_authorization.nas[0]!;
  assert.is(nas({ coa_address: '2001:DB8::0:7' }).coa_address, '2001:db8::7');
  assert.is(nas({ coa_address: COA_ADDRESS }).coa_address, COA_ADDRESS);
  assert.is(nas({}).coa_address, undefined);
});

config('parseConfig: a coa_address that is not an IP address is refused, naming the key', () => {
  for (const bad of ['bng1-mgmt.example.net', '192.0.2.300', '', '2001:db8::/64']) {
    const m = errorOf(() => parseConfig(withNas({ coa_address: bad })));
    assert.match(m, 'radius.dynamic_authorization.nas.0.coa_address: an IPv4 or IPv6 address', bad);
  }
});

config('--check-config refuses a bad coa_address (exit 2, names the key) and shows a good one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'r13-coa-address-'));
  try {
    const run = (coa: string) => {
      const file = join(dir, 'radius.yaml');
      writeFileSync(file, `radius:\n  sql: { path: /tmp/r.sqlite }\n  dynamic_authorization:\n    nas: [{ address: ${NAS_IP}, coa_address: "${coa}", secret: x }]\n`);
      return spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8' });
    };
    const bad = run('bng1-mgmt');
    assert.is(bad.status, 2);
    assert.match(bad.stderr, 'radius.dynamic_authorization.nas.0.coa_address');
    const good = run(COA_ADDRESS);
    assert.is(good.status, 0, good.stderr);
    assert.is(JSON.parse(good.stdout).radius.dynamic_authorization.nas[0].coa_address, COA_ADDRESS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

config.run();

// The client alone, radacct stubbed: the session's nasipaddress is 127.0.0.1, its NAS listens on 127.0.0.3.
const client = suite('review13 radius coa_address: where answers are taken from');
const session: OpenSession = { acctSessionId: 'c-1', acctUniqueId: 'u-1', username: 'carol', nasIpAddress: '127.0.0.1', framedIpv6Prefix: null, delegatedIpv6Prefix: null, startedAt: null };
const dynauth = (port: number) =>
  createDynamicAuthorization(
    radiusConfigSchema.parse({ sql: { path: 'unused' }, dynamic_authorization: { timeout_ms: 40, retries: 2, nas: [{ address: '127.0.0.1', coa_address: COA_ADDRESS, port, secret: SECRET }] } }),
    pino({ level: 'silent' }),
    { sessions: { openSessions: async () => [session] } },
  );
const bound = (host: string, port = 0) => new Promise<Socket>((r) => { const s = createSocket('udp4'); s.bind(port, host, () => r(s)); });
const closed = (s: Socket) => new Promise<void>((r) => s.close(() => r()));
/** A NAS on coa_address whose correctly signed ACK leaves from `from`: the listener itself, or a socket on the NAS-IP at the same port. */
async function answeringFrom(from: 'coa_address' | 'address') {
  const listener = await bound(COA_ADDRESS);
  const port = listener.address().port;
  const other = from === 'address' ? await bound('127.0.0.1', port) : listener;
  listener.on('message', (req, rinfo) => other.send(signResponse(Buffer.from([41, req[1]!, 0, 20, ...new Array(16).fill(0)]), req, SECRET), rinfo.port, rinfo.address));
  try {
    return await dynauth(port).notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null });
  } finally {
    if (other !== listener) await closed(other);
    await closed(listener);
  }
}

client('an ACK from coa_address is taken; the same ACK from the NAS-IP address (and port) is not', async () => {
  assert.equal((await answeringFrom('coa_address')).map((o) => [o.nas, o.result, o.attempts]), [['127.0.0.1', 'ack', 1]]);
  assert.equal((await answeringFrom('address')).map((o) => [o.nas, o.result, o.attempts]), [['127.0.0.1', 'no_answer', 3]]);
});

client("an answer from coa_address is checked with the NAS's secret: a wrong Response Authenticator is ignored", async () => {
  const nas = await startStandInNas(SECRET, 'udp4', COA_ADDRESS);
  try {
    nas.behave = (_req, n) => ({ code: 41, corrupt: n === 0 });
    const out = await dynauth(nas.port).notifySessions({ username: 'carol', action: 'disconnect', delegatedPrefix: null });
    assert.equal(out.map((o) => [o.nas, o.result, o.attempts]), [['127.0.0.1', 'ack', 2]]);
    assert.equal(nas.received.map((r) => [r.valid, ipv4(text(r, 4))]), [[true, '127.0.0.1'], [true, '127.0.0.1']]);
  } finally {
    await nas.close();
  }
});

client.run();

interface Ctx {
  peer: FreeRadiusPeer;
  acs: GenieacsNbi;
  nas: StandInNas;
  run: Running;
}

if (peerAvailable('review13 radius coa_address')) {
  const test = suite<Ctx>('review13 radius coa_address', {} as Ctx);

  test.before.each(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.acs = await startGenieacsNbi();
    ctx.nas = await startStandInNas(SECRET, 'udp4', COA_ADDRESS);
    ctx.run = await startService(
      {
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, hold_down_s: 0 }],
        genieacs: { url: ctx.acs.url, timeout_ms: 5000, task_timeout_ms: 300 },
        radius: {
          sql: { path: ctx.peer.dbPath },
          dynamic_authorization: {
            timeout_ms: 40,
            retries: 3,
            nas: [{ address: NAS_IP, coa_address: COA_ADDRESS, port: ctx.nas.port, secret_env: 'R13_BNG' }],
          },
        },
      },
      { R13_BNG: SECRET },
    );
  });

  test.after.each(async (ctx) => {
    await ctx.run?.close();
    await ctx.nas?.close();
    await ctx.acs?.close();
    await ctx.peer?.stop();
  });

  test('revoke: the Disconnect goes to coa_address, carries NAS-IP-Address = address, and its ACK is taken', async (ctx) => {
    ctx.peer.addUser('r13-bng', 'pw');
    const cpe = ctx.acs.addDevice().id;
    await ctx.run.call('POST', 'allocate?wait=10000', { subscriber_id: 's-r13-coa' });
    const active = await ctx.run.call('POST', 'activate?wait=10000', { subscriber_id: 's-r13-coa', username: 'r13-bng', cpe_id: cpe });
    assert.equal([active.body.state, active.body.pending], ['active', []]);
    await accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username: 'r13-bng', sessionId: 's-r13-coa-1', nasIp: NAS_IP });
    const db = new Database(ctx.peer.dbPath, { readonly: true });
    const rows = db.prepare('SELECT nasipaddress FROM radacct WHERE acctsessionid = ?').all('s-r13-coa-1');
    db.close();
    assert.equal(rows, [{ nasipaddress: NAS_IP }], 'radacct knows the NAS by its NAS-IP-Address');

    const revoked = await ctx.run.call('POST', 'revoke?wait=10000', { subscriber_id: 's-r13-coa' });
    assert.equal([revoked.status, revoked.body.state, revoked.body.pending, revoked.body.failure], [200, 'revoked', [], null]);
    assert.equal(ctx.nas.received.map((r) => [r.code, r.valid, text(r, 44)?.toString(), ipv4(text(r, 4))]), [[40, true, 's-r13-coa-1', NAS_IP]]);
    const events = (await ctx.run.call('GET', 'lifecycle/s-r13-coa/events')).body.events as any[];
    const outcomes = events.find((e) => e.type === 'STEP_DONE' && e.detail.step === 'radius_sessions')?.detail.output;
    assert.equal(outcomes.map((o: any) => [o.nas, o.result, o.attempts]), [[NAS_IP, 'ack', 1]], 'one send, its ACK taken');
  });

  test.run();
}
