// main.ts as an ISP runs it, SIGKILLed at random moments while it suspends, reactivates and
// revokes, and restarted on the same data directory, against a real FreeRADIUS (radreply, radacct),
// two NASes with their own secrets, the GenieACS stand-in and the embedded IPAM. The peers live in
// this process, so they remember what every killed run did. Then: every operation applied once,
// every step done, nothing held, the audit trail a chain.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable, startFreeRadius, type FreeRadiusPeer } from '../support/freeradius.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { freePort } from '../support/soak-service.ts';
import { accounting } from '../support/radius-client.ts';
import { startStandInNas, type StandInNas } from '../support/stand-in-nas.ts';

const TOKEN = 'review13-kill-token-0123456789';
const KILLS = 12;
/** A kill lands up to this long after the round's operations are sent. */
const KILL_MS = Number(process.env.REVIEW13_KILL_MS ?? 400);
const SUBS = ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8'];
/** After activation: k1-k4 are suspended, reactivated and revoked; k5-k8 suspended and revoked; k7 and k8's CPEs are offline. */
const PLAN: Record<string, string[]> = Object.fromEntries(
  SUBS.map((s, i) => [s, i < 4 ? ['suspend', 'reactivate', 'revoke'] : ['suspend', 'revoke']]),
);
const SETTLED: Record<string, string> = { suspend: 'suspended', reactivate: 'active', revoke: 'revoked' };
const OFFLINE = new Set(['k7', 'k8']);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Peers {
  radius: FreeRadiusPeer;
  acs: GenieacsNbi;
  nasA: StandInNas;
  nasB: StandInNas;
  dir: string;
  config: string;
  port: number;
  /** The child now running, killed by test.after should an assertion end the test early. */
  child?: ChildProcess;
}

function startChild(p: Peers): { child: ChildProcess; exited: Promise<void>; out: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', p.config], {
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: TOKEN, R13_NAS_A: 'kill-nas-a-secret', R13_NAS_B: 'kill-nas-b-secret' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  p.child = child;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return { child, exited: new Promise<void>((r) => child.once('exit', () => r())), out: () => out };
}

async function call(p: Peers, method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any } | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${p.port}/api/v1/network/ipv6/${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    return { status: res.status, body: await res.json() };
  } catch {
    return null; // killed under the request
  }
}

async function ready(p: Peers, run: { out: () => string }): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`http://127.0.0.1:${p.port}/readyz`).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`the service never became ready: ${run.out()}`);
}

/** The operations a subscriber's audit trail shows accepted, oldest first. */
const accepted = (events: any[]) => events.filter((e) => ['SUSPEND', 'REACTIVATE', 'REVOKE'].includes(e.type)).map((e) => String(e.type).toLowerCase());

/** Sends each subscriber its next planned operation (idempotency key per step), or nothing while it is busy. */
async function drive(p: Peers): Promise<boolean> {
  let finished = true;
  await Promise.all(
    SUBS.map(async (s) => {
      const got = await call(p, 'GET', `lifecycle/${s}/events`);
      const life = await call(p, 'GET', `lifecycle/${s}`);
      if (!got || !life) return void (finished = false);
      const done = accepted(got.body.events);
      const plan = PLAN[s]!;
      if (done.length === plan.length && life.body.state === 'revoked' && life.body.pending.length === 0) return;
      finished = false;
      const last = done.at(-1);
      if (done.length < plan.length && (last === undefined ? life.body.state === 'active' : life.body.state === SETTLED[last])) {
        const op = plan[done.length]!;
        void call(p, 'POST', `${op}?wait=0`, { subscriber_id: s }, `${s}-${done.length}-${op}`);
      } else if (life.body.state === 'failed') {
        void call(p, 'POST', 'retry?wait=0', { subscriber_id: s });
      }
    }),
  );
  return finished;
}

if (peerAvailable('review13 SIGKILL during revocations and suspensions')) {
  const test = suite('review13 SIGKILL during revocations and suspensions');
  const p = {} as Peers;

  test.before(async () => {
    p.radius = await startFreeRadius();
    p.acs = await startGenieacsNbi();
    p.nasA = await startStandInNas('kill-nas-a-secret');
    p.nasB = await startStandInNas('kill-nas-b-secret', 'udp4', '127.0.0.3');
    // NAS A loses every other request: retransmissions widen the window a kill can land in.
    p.nasA.behave = (req, n) => (n % 2 === 0 ? 'drop' : { code: req.code + 1 });
    p.dir = mkdtempSync(join(tmpdir(), 'review13-kill-'));
    p.port = await freePort();
    p.config = join(p.dir, 'config.json');
    writeFileSync(
      p.config,
      JSON.stringify({
        listen: { host: '127.0.0.1', port: p.port },
        database: join(p.dir, 'data', 'svc.sqlite'),
        log: { level: 'warn' },
        pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, hold_down_s: 0 }],
        retry: { attempts: 3, base_ms: 5, max_ms: 50 },
        genieacs: { url: p.acs.url, timeout_ms: 5000, task_timeout_ms: 200 },
        runtime: { pending_interval_ms: 300, pending_backoff_max_ms: 1000 },
        radius: {
          sql: { path: p.radius.dbPath },
          dynamic_authorization: {
            timeout_ms: 30,
            retries: 3,
            nas: [
              { address: '127.0.0.1', port: p.nasA.port, secret_env: 'R13_NAS_A' },
              { address: '127.0.0.3', port: p.nasB.port, secret_env: 'R13_NAS_B' },
            ],
          },
        },
      }),
    );
  });

  test.after(async () => {
    if (p.child && p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.nasA?.close();
    await p.nasB?.close();
    await p.acs?.close();
    await p.radius?.stop();
    if (p.dir) rmSync(p.dir, { recursive: true, force: true });
  });

  test(`${KILLS} SIGKILLs amid suspensions, reactivations and revocations: each operation once, every step done, nothing held`, async () => {
    let run = startChild(p);
    await ready(p, run);
    const prefixes = new Map<string, string>();
    for (const s of SUBS) {
      const cpe = p.acs.addDevice({ id: `00D09E-R13-${s}` }).id;
      await call(p, 'POST', 'allocate?wait=10000', { subscriber_id: s });
      const active = await call(p, 'POST', 'activate?wait=10000', { subscriber_id: s, username: `user-${s}`, cpe_id: cpe });
      assert.is(active?.body.state, 'active', run.out());
      prefixes.set(s, active!.body.prefix);
      await accounting(p.radius.host, p.radius.ports.acct, p.radius.secret, { status: 'Start', username: `user-${s}`, sessionId: `${s}-a`, nasIp: '127.0.0.1' });
      await accounting(p.radius.host, p.radius.ports.acct, p.radius.secret, { status: 'Start', username: `user-${s}`, sessionId: `${s}-b`, nasIp: '127.0.0.3' });
      if (OFFLINE.has(s)) p.acs.setMode(cpe, 'offline');
    }
    const seen: string[] = [];
    for (let k = 0; k < KILLS; k++) {
      await drive(p);
      await sleep(Math.floor(Math.random() * KILL_MS));
      run.child.kill('SIGKILL');
      await run.exited;
      run = startChild(p);
      await ready(p, run);
      const states = await Promise.all(SUBS.map((s) => call(p, 'GET', `lifecycle/${s}`)));
      seen.push(states.map((l) => `${l?.body.state}${l?.body.pending?.length ? '+pending' : ''}`).join(','));
    }
    // The last run is left alone: it finishes what the kills left, and the CPEs come back.
    for (const s of OFFLINE) p.acs.setMode(`00D09E-R13-${s}`, 'online');
    let finished = false;
    const settling = Date.now();
    for (let i = 0; i < 150 && !finished; i++) {
      finished = await drive(p);
      if (!finished) await sleep(200);
    }
    const lives = await Promise.all(SUBS.map((s) => call(p, 'GET', `lifecycle/${s}`)));
    assert.ok(finished, `not all settled: ${JSON.stringify(lives.map((l) => [l?.body.subscriber_id, l?.body.state, l?.body.pending, l?.body.failure]))}\n${run.out()}`);

    for (const s of SUBS) {
      const events = (await call(p, 'GET', `lifecycle/${s}/events`))!.body.events as any[];
      assert.equal(accepted(events), PLAN[s], `${s}: each operation accepted once`);
      // The trail is a chain: every change of state starts where the previous one ended.
      const moves = events.filter((e) => e.from !== null && e.to !== null && e.from !== e.to);
      for (let i = 1; i < moves.length; i++) assert.is(moves[i].from, moves[i - 1].to, `${s}: ${JSON.stringify(moves.slice(i - 1, i + 1))}`);
      const frees = events.filter((e) => e.type === 'STEP_DONE' && e.detail?.step === 'embedded_free');
      assert.is(frees.length, 1, `${s}: the prefix freed once`);
      assert.equal(p.acs.value(`00D09E-R13-${s}`, 'Device.DHCPv6.Client.1.Enable'), false, `${s}: PD off at the CPE`);
      // Every session was told at revocation by its own NAS, with that NAS's secret.
      for (const [nas, id] of [[p.nasA, `${s}-a`], [p.nasB, `${s}-b`]] as const) {
        const got = nas.received.filter((r) => r.attributes.some((a) => a.type === 44 && a.value.toString() === id));
        assert.ok(got.length > 0 && got.every((r) => r.valid), `${s}: ${id} got signed requests`);
        assert.ok(got.some((r) => r.code === 40), `${s}: ${id} got a Disconnect`);
      }
    }
    const db = new Database(p.radius.dbPath, { readonly: true });
    const rows = db.prepare("SELECT username, attribute, value FROM radreply WHERE attribute LIKE '%IPv6%'").all();
    db.close();
    assert.equal(rows, [], 'radreply keeps no prefix of a revoked subscriber');
    const metrics = (await call(p, 'GET', 'metrics'))!.body;
    assert.equal([metrics.pools.map((x: any) => x.allocated), metrics.leaks], [[0], 0], 'no prefix held');
    const leaks = await call(p, 'POST', 'jobs/leaks');
    assert.is(leaks?.status, 200);
    if (process.env.REVIEW13_VERBOSE) console.log(`states found after each kill:\n${seen.join('\n')}\nsettled ${Date.now() - settling} ms after the last restart`);
    run.child.kill('SIGTERM');
    await run.exited;
  });

  test.run();
}
