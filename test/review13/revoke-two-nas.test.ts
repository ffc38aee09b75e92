// Revocation and suspension as an ISP meets them, read in each peer: a real FreeRADIUS (radreply
// and radacct in SQLite), two NASes with their own secrets (stand-ins on two loopback addresses),
// the GenieACS stand-in and the embedded IPAM. The service is composed from configuration and
// driven only through the REST API.
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readAttributes } from '../../services/radius/authenticators.ts';
import { decodeIpv6Prefix } from '../../services/radius/ipv6-prefix.ts';
import { formatPrefix } from '../../services/ipv6.ts';
import { startService, type Running } from '../e2e/support.ts';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { accessRequest, accounting } from '../support/radius-client.ts';
import { startStandInNas, type Received, type StandInNas } from '../support/stand-in-nas.ts';
import { withContext } from '../support/lifecycle-rows.ts';

const SECRET_A = 'nas-a-secret-review13';
const SECRET_B = 'nas-b-secret-review13';
const B_ADDRESS = '127.0.0.3';

interface Ctx {
  peer: FreeRadiusPeer;
  acs: GenieacsNbi;
  nasA: StandInNas;
  nasB: StandInNas;
  run: Running;
}

const attr = (r: Received, type: number) => r.attributes.find((a) => a.type === type)?.value;
const text = (r: Received, type: number) => attr(r, type)?.toString('utf8');
const delegated = (r: Received) => readAttributes(r.raw).filter((a) => a.type === 123).map((a) => formatPrefix(decodeIpv6Prefix(a.value)));
/** The radreply rows of a user, as FreeRADIUS reads them. */
function radreply(peer: FreeRadiusPeer, user: string): { attribute: string; op: string; value: string }[] {
  const db = new Database(peer.dbPath, { readonly: true });
  try {
    return db.prepare('SELECT attribute, op, value FROM radreply WHERE username = ? ORDER BY attribute, value').all(user) as any;
  } finally {
    db.close();
  }
}

if (peerAvailable('review13 revocation with two NASes')) {
  const test = suite<Ctx>('review13 revocation with two NASes', {} as Ctx);

  test.before.each(async (ctx) => {
    ctx.peer = await startFreeRadius();
    ctx.acs = await startGenieacsNbi();
    ctx.nasA = await startStandInNas(SECRET_A);
    ctx.nasB = await startStandInNas(SECRET_B, 'udp4', B_ADDRESS);
    ctx.run = await startService(
      {
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, hold_down_s: 0 }],
        genieacs: { url: ctx.acs.url, timeout_ms: 5000, task_timeout_ms: 300 },
        runtime: { pending_interval_ms: 1000 },
        radius: {
          sql: { path: ctx.peer.dbPath },
          dynamic_authorization: {
            timeout_ms: 40,
            retries: 3,
            nas: [
              { address: '127.0.0.1', port: ctx.nasA.port, secret_env: 'R13_NAS_A' },
              { address: B_ADDRESS, port: ctx.nasB.port, secret_env: 'R13_NAS_B' },
            ],
          },
        },
      },
      { R13_NAS_A: SECRET_A, R13_NAS_B: SECRET_B },
    );
  });

  test.after.each(async (ctx) => {
    await ctx.run?.close();
    await ctx.nasA?.close();
    await ctx.nasB?.close();
    await ctx.acs?.close();
    await ctx.peer?.stop();
  });

  const ask = (ctx: Ctx, user: string) => accessRequest(ctx.peer.host, ctx.peer.ports.auth, ctx.peer.secret, user, 'pw');
  const start = (ctx: Ctx, username: string, sessionId: string, nasIp: string) =>
    accounting(ctx.peer.host, ctx.peer.ports.acct, ctx.peer.secret, { status: 'Start', username, sessionId, nasIp });
  const steps = async (ctx: Ctx, sub: string) =>
    ((await ctx.run.call('GET', `lifecycle/${sub}/events`)).body.events as { type: string; detail: any }[])
      .filter((e) => e.type === 'STEP_DONE' || e.type === 'STEP_SKIPPED')
      .map((e) => e.detail.step as string);

  /** An active subscriber with a CPE, an operator's own radreply row, and one open session on each NAS. */
  async function activeWithTwoSessions(ctx: Ctx, sub: string, user: string): Promise<{ prefix: string; cpe: string }> {
    ctx.peer.addUser(user, 'pw');
    const db = new Database(ctx.peer.dbPath);
    db.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES (?, 'Reply-Message', ':=', 'operator row')").run(user);
    db.close();
    const cpe = ctx.acs.addDevice().id;
    const allocated = await ctx.run.call('POST', 'allocate?wait=10000', { subscriber_id: sub });
    const active = await ctx.run.call('POST', 'activate?wait=10000', { subscriber_id: sub, username: user, cpe_id: cpe });
    assert.equal([active.body.state, active.body.pending], ['active', []]);
    await start(ctx, user, `${sub}-a`, '127.0.0.1');
    await start(ctx, user, `${sub}-b`, B_ADDRESS);
    return { prefix: allocated.body.prefix, cpe };
  }

  test('revoke: each session gets a Disconnect from its own NAS, signed with that NAS secret, retried until answered; order as promised', async (ctx) => {
    const { prefix, cpe } = await activeWithTwoSessions(ctx, 's-r13-1', 'r13-one');
    assert.equal((await ask(ctx, 'r13-one')).delegated, [prefix]);
    ctx.nasB.behave = (req, n) => (n < 2 ? 'drop' : { code: req.code + 1 });
    const revoked = await ctx.run.call('POST', 'revoke?wait=10000', { subscriber_id: 's-r13-1' });
    assert.equal([revoked.status, revoked.body.state, revoked.body.pending, revoked.body.failure], [200, 'revoked', [], null]);

    assert.equal(ctx.nasA.received.map((r) => [r.code, r.valid, text(r, 44), text(r, 1)]), [[40, true, 's-r13-1-a', 'r13-one']]);
    assert.equal(ctx.nasB.received.map((r) => [r.code, r.valid, text(r, 44)]), [[40, true, 's-r13-1-b'], [40, true, 's-r13-1-b'], [40, true, 's-r13-1-b']]);
    // A retransmission is the same packet (RFC 5080 §2.2.1), so the NAS can tell it is one request.
    assert.ok(ctx.nasB.received.every((r) => r.raw.equals(ctx.nasB.received[0]!.raw)), 'retransmissions are byte-identical');
    assert.equal(radreply(ctx.peer, 'r13-one'), [{ attribute: 'Reply-Message', op: ':=', value: 'operator row' }]);
    assert.equal((await ask(ctx, 'r13-one')).delegated, []);
    assert.equal(ctx.acs.value(cpe, 'Device.DHCPv6.Client.1.Enable'), false);
    assert.equal(await steps(ctx, 's-r13-1'), [
      'embedded_allocate', 'radius_write_reply', 'cpe_configure_pd',
      'embedded_release', 'radius_remove_reply', 'radius_sessions', 'cpe_remove_ipv6', 'embedded_free',
    ]);
    const pools = (await ctx.run.call('GET', 'metrics')).body.pools;
    assert.equal(pools.map((p: any) => p.allocated), [0]);
  });

  test('suspend then reactivate: radreply exactly as before, each NAS told, the CPE untouched', async (ctx) => {
    const { prefix, cpe } = await activeWithTwoSessions(ctx, 's-r13-2', 'r13-two');
    const before = radreply(ctx.peer, 'r13-two');
    const cpeBefore = ctx.acs.tasks(cpe).length;
    assert.is((await ctx.run.call('POST', 'suspend?wait=10000', { subscriber_id: 's-r13-2' })).body.state, 'suspended');
    assert.equal(radreply(ctx.peer, 'r13-two'), [{ attribute: 'Reply-Message', op: ':=', value: 'operator row' }]);
    assert.equal((await ask(ctx, 'r13-two')).delegated, []);
    const reactivated = await ctx.run.call('POST', 'reactivate?wait=10000', { subscriber_id: 's-r13-2' });
    assert.equal([reactivated.body.state, reactivated.body.prefix, reactivated.body.pending], ['active', prefix, []]);
    assert.equal(radreply(ctx.peer, 'r13-two'), before);
    assert.equal((await ask(ctx, 'r13-two')).delegated, [prefix]);
    for (const [nas, id] of [[ctx.nasA, 's-r13-2-a'], [ctx.nasB, 's-r13-2-b']] as const) {
      assert.equal(nas.received.map((r) => [r.code, r.valid, text(r, 44), delegated(r)]), [[40, true, id, []], [43, true, id, [prefix]]]);
    }
    assert.is(ctx.acs.tasks(cpe).length, cpeBefore, 'suspension did not task the CPE');
    assert.equal(ctx.acs.value(cpe, 'Device.DHCPv6.Client.1.Enable'), true);
  });

  test('revoke with one NAS silent and the other refusing as unsupported, the CPE offline: revoked, warned, the CPE step finishes later', async (ctx) => {
    const { cpe } = await activeWithTwoSessions(ctx, 's-r13-3', 'r13-three');
    ctx.nasA.behave = () => 'drop';
    ctx.nasB.behave = (req) => ({ code: req.code + 2, errorCause: 501 });
    ctx.acs.setMode(cpe, 'offline');
    const revoked = await ctx.run.call('POST', 'revoke?wait=10000', { subscriber_id: 's-r13-3' });
    assert.equal([revoked.body.state, revoked.body.failure], ['revoked', null]);
    assert.equal(revoked.body.pending.map((p: any) => p.step), ['cpe_remove_ipv6']);
    assert.is(ctx.nasA.received.length, 4, 'the silent NAS was asked 1 + retries times');
    assert.equal(radreply(ctx.peer, 'r13-three'), [{ attribute: 'Reply-Message', op: ':=', value: 'operator row' }]);
    const events = (await ctx.run.call('GET', 'lifecycle/s-r13-3/events')).body.events as any[];
    const outcomes = events.find((e) => e.type === 'STEP_DONE' && e.detail.step === 'radius_sessions' && e.to !== 'active')?.detail.output;
    assert.equal(outcomes.map((o: any) => [o.nas, o.result]).sort(), [['127.0.0.1', 'no_answer'], [B_ADDRESS, 'unsupported']]);
    const metrics = await ctx.run.call('GET', 'metrics');
    assert.equal(metrics.body.pools.map((p: any) => p.allocated), [0], 'the prefix is free although the CPE has not confirmed');
    ctx.acs.inform(cpe);
    const svc = ctx.run.svc;
    svc.host.stopAll();
    const row = svc.store.latest('s-r13-3')!;
    svc.store.save({ ...withContext(row, (c) => (c.pending[0]!.next_attempt_at = new Date(0).toISOString())), next_pending_at: new Date(0).toISOString() }, null);
    await svc.tickPending();
    assert.equal((await ctx.run.call('GET', 'lifecycle/s-r13-3')).body.pending, []);
    assert.equal(ctx.acs.value(cpe, 'Device.DHCPv6.Client.1.Enable'), false);
  });

  test('revoke while the activation CPE step is still pending: after the CPE returns, PD is off and nothing is pending', async (ctx) => {
    ctx.peer.addUser('r13-four', 'pw');
    const cpe = ctx.acs.addDevice({ mode: 'offline' }).id;
    await ctx.run.call('POST', 'allocate?wait=10000', { subscriber_id: 's-r13-4' });
    const active = await ctx.run.call('POST', 'activate?wait=10000', { subscriber_id: 's-r13-4', username: 'r13-four', cpe_id: cpe });
    assert.equal(active.body.pending.map((p: any) => p.step), ['cpe_configure_pd']);
    const revoked = await ctx.run.call('POST', 'revoke?wait=10000', { subscriber_id: 's-r13-4' });
    assert.is(revoked.body.state, 'revoked');
    ctx.acs.setMode(cpe, 'online');
    ctx.acs.inform(cpe);
    const svc = ctx.run.svc;
    for (let i = 0; i < 3; i++) {
      svc.host.stopAll();
      const row = svc.store.latest('s-r13-4')!;
      svc.store.save({ ...withContext(row, (c) => c.pending.forEach((p) => (p.next_attempt_at = new Date(0).toISOString()))), next_pending_at: new Date(0).toISOString() }, null);
      await svc.tickPending();
      ctx.acs.inform(cpe);
    }
    assert.equal((await ctx.run.call('GET', 'lifecycle/s-r13-4')).body.pending, []);
    assert.equal(ctx.acs.value(cpe, 'Device.DHCPv6.Client.1.Enable'), false, 'a revoked subscriber has PD off at its CPE');
  });

  test.run();
}
