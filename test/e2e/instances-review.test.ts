// A review of issue 11 from outside: three service processes on one throw-away PostgreSQL, driven
// only through the REST API as an ISP's provisioning would (a load balancer retrying on another
// instance, a database restart, a rolling stop), the database read only to check invariants.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { DATABASE_URL_ENV, instancesConfig, LEASE_MS, type Rig } from '../support/instances-config.ts';
import { invariantDb, ipamAgreesWithStore, type InvariantDb } from '../support/instances-db.ts';
import { eventually, INSTANCES_TOKEN, sleep, startFleet, type Instance } from '../support/instances.ts';
import { startGenieacsNbi } from '../support/genieacs-nbi.ts';
import { PG_BIN, postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('e2e review: three instances on one PostgreSQL, from outside');
let rig: Rig | null = null;
let rigFailed: Error | null = null;
let db: InvariantDb;
const on = (i: number): Instance => rig!.fleet.instances[i % rig!.fleet.instances.length]!;
const why = () => `\n${rig!.fleet.warnings()}`;
const cpePosts = (cpeId: string, from: number) =>
  rig!.acs.requests.slice(from).filter((r) => r.method === 'POST' && decodeURIComponent(r.url).includes(`/devices/${cpeId}/tasks`)).length;

async function up(): Promise<boolean> {
  if (!postgresAvailable('review of three instances on one PostgreSQL')) return false;
  if (rigFailed) throw rigFailed;
  if (!rig) {
    // Commits durable (the harness turns synchronous_commit off for speed): a SIGKILLed postmaster
    // must not take acknowledged transactions with it, as it would not in production.
    const cluster = await startPostgres({ synchronous_commit: 'on' });
    const acs = await startGenieacsNbi();
    const url = await cluster.createDatabase('review');
    const fleet = await startFleet({
      count: 3,
      config: (dir) => instancesConfig(dir, acs.url),
      env: { [DATABASE_URL_ENV]: url },
    }).catch(async (e: Error) => {
      await acs.close();
      await cluster.stop();
      throw (rigFailed = e);
    });
    const close = async () => {
      await fleet.close();
      await acs.close();
      await cluster.stop();
    };
    rig = { cluster, url, acs, fleet, close };
    db = invariantDb(url);
  }
  rig.acs.clearFaults();
  rig.acs.delayMs = 0;
  for (const i of rig.fleet.instances) if (i.pid === null) await i.start();
  return true;
}
test.after(async () => {
  await db?.close();
  await rig?.close();
});

// The set-up waits up to 30 s for each answer, not the default 5 s: three instances, PostgreSQL
// and the ACS share the machine with the rest of the suite, and a 202 here is load, not a finding.
async function active(via: Instance, s: string, cpe = rig!.acs.addDevice()) {
  const a = await via.call('POST', 'allocate?wait=30000', { subscriber_id: s });
  assert.is(a.status, 201, JSON.stringify(a.body));
  const b = await via.call('POST', 'activate?wait=30000', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.is(b.status, 200, JSON.stringify(b.body));
  return { cpe, lifecycle: b.body };
}
const eventsOf = async (s: string, type: string) => (await db.audit(s)).filter((r) => r.type === type).length;

test('an Idempotency-Key replayed on another instance while the first request still waits its turn → the first answer, and the operation done once', async () => {
  if (!(await up())) return;
  const s = 'key-queued';
  await active(on(0), s);
  // A slow update holds the subscriber; the keyed suspend waits behind it on instance a.
  rig!.acs.delayMs = 2500;
  const upd = await on(0).call('POST', 'update?wait=0', { subscriber_id: s });
  assert.is(upd.status, 202, JSON.stringify(upd.body));
  const key = { 'Idempotency-Key': 'review-suspend-1' };
  const first = await on(0).call('POST', 'suspend?wait=0', { subscriber_id: s, reason: 'unpaid' }, key);
  assert.is(first.status, 202, JSON.stringify(first.body));
  // The client's retry (its own timeout) lands on instance b through the load balancer.
  const replay = await on(1).call('POST', 'suspend?wait=20000', { subscriber_id: s, reason: 'unpaid' }, key);
  rig!.acs.delayMs = 0;
  assert.is(replay.status, 200, `the replay answered ${replay.status} ${JSON.stringify(replay.body)}${why()}`);
  assert.is(replay.body.state, 'suspended');
  // And the key's stored answer, replayed once more anywhere, is that same 200.
  const again = await on(2).call('POST', 'suspend', { subscriber_id: s, reason: 'unpaid' }, key);
  assert.equal([again.status, again.body?.state], [200, 'suspended']);
  assert.is(await eventsOf(s, 'SUSPEND'), 1, 'one SUSPEND in the audit trail');
});

test('an Idempotency-Key replayed on another instance after the first finished → the stored answer, nothing run again', async () => {
  if (!(await up())) return;
  const s = 'key-finished';
  const key = { 'Idempotency-Key': 'review-alloc-finished' };
  const first = await on(0).call('POST', 'allocate', { subscriber_id: s }, key);
  assert.is(first.status, 201);
  const replays = await Promise.all([1, 2].map((i) => on(i).call('POST', 'allocate', { subscriber_id: s }, key)));
  assert.equal(replays.map((r) => [r.status, r.body?.prefix, r.location]), replays.map(() => [201, first.body.prefix, first.location]));
  const mismatch = await on(1).call('POST', 'allocate', { subscriber_id: 'other' }, key);
  assert.is(mismatch.status, 422);
  assert.is(await eventsOf(s, 'CREATED'), 1);
});

test('an Idempotency-Key replayed on another instance after the first instance was SIGKILLed mid-activate → 200 active, activated once', async () => {
  if (!(await up())) return;
  const s = 'key-killed';
  const cpe = rig!.acs.addDevice();
  assert.is((await on(0).call('POST', 'allocate', { subscriber_id: s })).status, 201);
  const from = rig!.acs.requests.length;
  rig!.acs.delayMs = 6000;
  const key = { 'Idempotency-Key': 'review-activate-killed' };
  const body = { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id };
  const first = await on(0).call('POST', 'activate?wait=0', body, key);
  assert.is(first.status, 202);
  await eventually('the CPE step reaching the ACS', 10_000, async () => (cpePosts(cpe.id, from) > 0 ? true : undefined));
  await on(0).kill();
  rig!.acs.delayMs = 0;
  const t0 = Date.now();
  const replay = await on(1).call('POST', 'activate?wait=20000', body, key);
  assert.equal([replay.status, replay.body?.state], [200, 'active'], `${JSON.stringify(replay.body)}${why()}`);
  assert.ok(Date.now() - t0 < LEASE_MS + 5000, `answered ${Date.now() - t0} ms after the kill`);
  assert.is(await eventsOf(s, 'ACTIVATE'), 1);
  await on(0).start();
});

test('two instances racing allocate for one subscriber → one 201, the others 200 with the same prefix; one lifecycle; IPAM = store', async () => {
  if (!(await up())) return;
  for (let round = 0; round < 10; round++) {
    const s = `race-${round}`;
    const answers = await Promise.all([0, 1, 2, 0, 1, 2].map((i) => on(i).call('POST', 'allocate', { subscriber_id: s })));
    const statuses = answers.map((a) => a.status).sort();
    assert.equal(statuses, [200, 200, 200, 200, 200, 201], `${s}: ${JSON.stringify(answers.map((a) => [a.status, a.body]))}${why()}`);
    assert.is(new Set(answers.map((a) => a.body.prefix)).size, 1);
    assert.is(await eventsOf(s, 'CREATED'), 1);
  }
  assert.equal(await ipamAgreesWithStore(db), []);
  assert.equal(await db.subscribersWithTwoLive(), []);
});

test('a suspend/reactivate storm on one subscriber across all three instances → only 200/202/409, one chain, nothing stuck, every 200 in the trail', async () => {
  if (!(await up())) return;
  const s = 'storm';
  await active(on(0), s);
  const ops = Array.from({ length: 60 }, (_, i) => ({ op: i % 2 ? 'reactivate' : 'suspend', via: i % 3 }));
  const answers = await Promise.all(ops.map((o) => on(o.via).call('POST', o.op, { subscriber_id: s })));
  const bad = answers.map((a, i) => [ops[i]!.op, on(ops[i]!.via).name, a.status, a.body?.error?.code ?? a.body?.state]).filter((x) => ![200, 202, 409].includes(x[2] as number));
  assert.equal(bad, [], `only 200/202/409${why()}`);
  const ok = (op: string) => answers.filter((a, i) => ops[i]!.op === op && a.status === 200).length;
  const final = await eventually('the storm settled', 20_000, async () => {
    const got = await on(2).call('GET', `lifecycle/${s}`);
    return ['active', 'suspended'].includes(got.body?.state) ? (got.body.state as string) : undefined;
  });
  await sleep(500);
  const audit = await db.audit(s);
  assert.equal(chainProblems(s, audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), final), []);
  assert.ok(audit.filter((r) => r.type === 'SUSPEND').length >= ok('suspend'), 'every 200 suspend is in the trail');
  assert.ok(audit.filter((r) => r.type === 'REACTIVATE').length >= ok('reactivate'), 'every 200 reactivate is in the trail');
  const lease = await db.lease(s);
  assert.ok(!lease || lease.expires_at <= new Date() || (await sleep(LEASE_MS), !(await db.lease(s)) || (await db.lease(s))!.expires_at <= new Date()), `a lease left on a settled subscriber: ${JSON.stringify(lease)}`);
});

// The throw-away cluster's postmaster stopped as an operator would (test/support/postgres.ts starts it again).
const account = () => {
  if (process.getuid?.() !== 0) return {};
  const id = (f: string) => Number(spawnSync('id', [f, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return { uid: id('-u'), gid: id('-g') };
};
function pgCtl(c: PgCluster, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(join(PG_BIN, 'pg_ctl'), ['-D', join(c.dir, 'data'), ...args], { encoding: 'utf8', ...account(), env: { ...process.env, LC_ALL: 'C' } });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
const readyz = async (i: Instance) => (await fetch(`${i.origin}/readyz`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, () => 0));

/**
 * A client as an ISP's provisioning runs one: a keyed request, retried (same key) on 5xx or a
 * dropped connection, on the next instance; a 202 (not settled within its wait, as while the
 * database is down) is followed by sending the key again until the operation's own answer comes.
 */
async function provision(op: string, body: Record<string, unknown>, key: string, start: number, deadline: number) {
  // Each kind of answer it got on the way, with how often and when it was last seen: a failure says what happened, not only the last try.
  const seen = new Map<string, { times: number; lastAt: number }>();
  const began = Date.now();
  for (let n = start; Date.now() < deadline; n++) {
    const a = await on(n).call('POST', `${op}?wait=3000`, body, { 'Idempotency-Key': key }).catch((e: Error) => ({ status: 0, body: { error: e.message }, location: null }));
    if (a.status > 0 && a.status < 500 && a.status !== 202) return a;
    const what = `${a.status} ${JSON.stringify(a.body)}`;
    seen.set(what, { times: (seen.get(what)?.times ?? 0) + 1, lastAt: Date.now() - began });
    await sleep(200);
  }
  const tries = [...seen].map(([what, s]) => `${s.times}× ${what} (last at ${s.lastAt} ms)`).join('; ');
  throw new Error(`${op} ${key}: still failing at the deadline: ${tries}`);
}

for (const how of ['pg_ctl stop -m fast', 'SIGKILL of the postmaster'] as const) {
  test(`PostgreSQL down mid-traffic (${how}) and started again → /readyz 503 while down, 200 after, without restarting the instances; nothing lost, nothing doubled, no lease stuck`, async () => {
    if (!(await up())) return;
    const tag = how.startsWith('pg_ctl') ? 'fast' : 'kill';
    // A revocation caught in a slow CPE step when the database goes away.
    const rev = `outage-${tag}-rev`;
    const { lifecycle } = await active(on(0), rev);
    rig!.acs.delayMs = 1500;
    assert.is((await on(0).call('POST', 'revoke?wait=0', { subscriber_id: rev })).status, 202);
    rig!.acs.delayMs = 0;
    const subs = Array.from({ length: 60 }, (_, i) => `outage-${tag}-${i}`);
    const deadline = Date.now() + 60_000;
    const traffic = subs.map(async (s, i) => {
      await sleep(i * 40);
      const a = await provision('allocate', { subscriber_id: s }, `k-${s}`, i, deadline);
      const b = await provision('activate', { subscriber_id: s, username: `${s}@isp` }, `k2-${s}`, i + 1, deadline);
      return [a, b] as const;
    });
    await sleep(800);
    if (tag === 'fast') assert.is(pgCtl(rig!.cluster, ['-m', 'fast', '-w', 'stop']).status, 0);
    else rig!.cluster.kill();
    const downAt = Date.now();
    const whileDown = await eventually('every instance answering /readyz 503 while the database is down', 5000, async () => {
      const s = await Promise.all(rig!.fleet.instances.map(readyz));
      return s.every((x) => x === 503) ? s : undefined;
    }).catch((e: Error) => e.message);
    // Down longer than a lease: every lease runs out meanwhile.
    await sleep(Math.max(0, LEASE_MS + 1500 - (Date.now() - downAt)));
    await rig!.cluster.restart();
    const upAt = Date.now();
    const after = await eventually('every instance answering /readyz 200 again', 15_000, async () => {
      const s = await Promise.all(rig!.fleet.instances.map(readyz));
      return s.every((x) => x === 200) ? s : undefined;
    }).catch(async (e: Error) => `${e.message}: ${JSON.stringify(await Promise.all(rig!.fleet.instances.map(readyz)))}`);
    const results = await Promise.allSettled(traffic);
    assert.equal(rig!.fleet.instances.map((i) => i.pid !== null), [true, true, true], `no instance died${why()}`);
    assert.ok(Array.isArray(whileDown), `${whileDown}`);
    assert.ok(Array.isArray(after), `${after} (${Date.now() - upAt} ms after the restart)${why()}`);
    const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${subs[i]}: ${(r.reason as Error).message}`] : []));
    assert.equal(failed, [], `every client got through${why()}`);
    const answers = results.flatMap((r, i) => (r.status === 'fulfilled' ? [[subs[i], r.value[0].status, r.value[1].status, r.value[1].body?.state ?? r.value[1].body?.error?.code]] : []));
    assert.equal(answers.filter((a) => a[1] !== 201 || a[2] !== 200 || a[3] !== 'active'), [], 'each allocated (201) and activated (200), as its key answered once settled');
    // The revocation in flight resumes and finishes.
    const done = await eventually(`${rev} revoked`, 15_000, async () => {
      const got = await on(1).call('GET', `lifecycle/${rev}`);
      return got.body?.state === 'revoked' ? got.body : undefined;
    }).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
    assert.equal([done.pending, done.failure], [[], null]);
    assert.equal((await db.quarantined(lifecycle.lifecycle_id)).map((q) => q.freed_at !== null), [true]);
    for (const s of subs) {
      assert.is(await eventsOf(s, 'CREATED'), 1, `${s}: one lifecycle`);
      assert.is(await eventsOf(s, 'ACTIVATE'), 1, `${s}: activated once`);
    }
    assert.equal(await ipamAgreesWithStore(db), []);
    assert.equal(await db.subscribersWithTwoLive(), []);
    const { rows: busy } = await db.pool.query("SELECT subscriber_id, state FROM lifecycles WHERE busy = 1 AND subscriber_id LIKE 'outage-%'");
    assert.equal(busy, [], 'nothing left in flight');
    await sleep(LEASE_MS);
    const { rows: leases } = await db.pool.query("SELECT subscriber_id, owner FROM leases WHERE expires_at > now() AND subscriber_id LIKE 'outage-%'");
    assert.equal(leases, [], 'no live lease on a settled subscriber');
  });
}

/** Starts main.ts as an operator would, with `url` in the environment; resolves with its exit code and output (or kills it after `ms`). */
async function startOnce(url: string, ms = 20_000): Promise<{ code: number | null; out: string; ready: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'review-start-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify({ ...instancesConfig(dir, rig!.acs.url), listen: { host: '127.0.0.1', port: 0 } }));
  const c = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: INSTANCES_TOKEN, [DATABASE_URL_ENV]: url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  c.stdout.on('data', (d: Buffer) => (out += d.toString()));
  c.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => (c.kill('SIGKILL'), resolve(null)), ms);
    c.once('exit', (code) => (clearTimeout(t), resolve(code)));
  });
  rmSync(dir, { recursive: true, force: true });
  return { code, out, ready: false };
}

test('a wrong password or an unreachable database at start → exit 2 within seconds, a message naming the cause, the password never printed', async () => {
  if (!(await up())) return;
  const c = rig!.cluster;
  const admin = new (await import('pg')).default.Client({ connectionString: c.adminUrl });
  await admin.connect();
  try {
    await admin.query("CREATE ROLE reviewer LOGIN PASSWORD 'the-right-secret-42'");
    await admin.query('GRANT ALL ON DATABASE review TO reviewer');
    const hba = join(c.dir, 'data', 'pg_hba.conf');
    writeFileSync(hba, `host all reviewer 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
    await admin.query('SELECT pg_reload_conf()');
  } finally {
    await admin.end();
  }
  const secret = 'Wr0ngSecretNeverPrinted';
  const cases = [
    { what: 'wrong password', url: `postgres://reviewer:${secret}@127.0.0.1:${c.port}/review`, cause: /password authentication failed/ },
    { what: 'nothing listening', url: `postgres://reviewer:${secret}@127.0.0.1:1/review`, cause: /ECONNREFUSED|connect|refused/i },
    { what: 'no such host', url: `postgres://reviewer:${secret}@db.invalid:5432/review`, cause: /ENOTFOUND|db\.invalid|resolve/i },
  ];
  for (const k of cases) {
    const t0 = Date.now();
    const r = await startOnce(k.url);
    const took = Date.now() - t0;
    assert.is(r.code, 2, `${k.what}: exit code ${r.code} after ${took} ms:\n${r.out.slice(-1500)}`);
    assert.ok(k.cause.test(r.out), `${k.what}: the cause is named:\n${r.out.slice(-1500)}`);
    const at = new URL(k.url);
    assert.ok(r.out.includes(`at ${at.hostname}:${at.port}/review`), `${k.what}: the server is named:\n${r.out.slice(-1500)}`);
    assert.not.ok(r.out.includes(secret), `${k.what}: the password was printed:\n${r.out}`);
    assert.ok(took < 15_000, `${k.what}: ${took} ms to give up`);
  }
});

test('SIGTERM of the instance that owns a revocation mid-step → it exits 0, and another finishes the revocation without waiting for the lease to run out', async () => {
  if (!(await up())) return;
  const s = 'sigterm-owner';
  const via = on(2);
  const { cpe, lifecycle } = await active(via, s);
  const from = rig!.acs.requests.length;
  rig!.acs.delayMs = 4000;
  assert.is((await via.call('POST', 'revoke?wait=0', { subscriber_id: s })).status, 202);
  await eventually('the removal reaching the ACS', 10_000, async () => (cpePosts(cpe.id, from) > 0 ? true : undefined));
  const lease = await db.lease(s);
  assert.ok(lease && via.owns(lease.owner), `the lease is ${via.name}'s: ${JSON.stringify(lease)}`);
  rig!.acs.delayMs = 0;
  const t0 = Date.now();
  const code = await via.stop();
  const exitedMs = Date.now() - t0;
  assert.is(code, 0, `exit code${why()}`);
  const done = await eventually(`${s} revoked by another instance`, 20_000, async () => {
    const got = await on(0).call('GET', `lifecycle/${s}`);
    return got.body?.state === 'revoked' ? got.body : undefined;
  }, 20).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
  const afterExitMs = Date.now() - t0 - exitedMs;
  assert.equal([done.pending, done.failure], [[], null]);
  assert.ok(afterExitMs < LEASE_MS, `revoked ${afterExitMs} ms after the stopped instance exited (${exitedMs} ms after SIGTERM); the lease is ${LEASE_MS} ms`);
  assert.equal((await db.quarantined(lifecycle.lifecycle_id)).map((q) => q.freed_at !== null), [true]);
  await via.start();
});

const metricsOf = async (i: Instance) => (i.pid === null ? '' : await (await fetch(`${i.origin}/metrics`)).text());
const sample = (text: string, name: string, labels = '') => {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
};
const leaderOf = async () => {
  const live = rig!.fleet.instances.filter((i) => i.pid !== null);
  const texts = await Promise.all(live.map(metricsOf));
  const leaders = live.filter((_, k) => sample(texts[k]!, 'ipv6_instance_leader') === 1);
  return leaders.length === 1 ? leaders[0] : undefined;
};

test('/metrics summed over the three instances → the fleet\'s figures (lifecycles by state, pool allocated, pending); one leader', async () => {
  if (!(await up())) return;
  await eventually('one leader', 5000, leaderOf);
  await sleep(1500);
  const texts = await Promise.all(rig!.fleet.instances.map(metricsOf));
  const sum = (name: string, labels = '') => texts.reduce((n, t) => n + sample(t, name, labels), 0);
  const { rows } = await db.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM lifecycles GROUP BY state');
  const want = Object.fromEntries(rows.map((r) => [r.state, r.n]));
  const got = Object.fromEntries(rows.map((r) => [r.state, sum('ipv6_lifecycle_lifecycles', `state="${r.state}"`)]));
  assert.equal(got, want, 'lifecycles by state');
  const alloc = (await db.ipamAllocations());
  assert.is(sum('ipv6_pool_allocated_prefixes', 'pool="residential"'), [...alloc.values()].flat().length, 'allocated prefixes');
  assert.is(sum('ipv6_instance_leader'), 1);
  const { rows: p } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM lifecycles WHERE next_pending_at IS NOT NULL');
  assert.is(sum('ipv6_lifecycle_pending_lifecycles'), p[0]!.n, 'pending');
});

test('the leader SIGKILLed right after it queued an offline CPE step → another leads within a few seconds, and its pending job finishes the step once the CPE is back', async () => {
  if (!(await up())) return;
  const leader = await eventually('one leader', 5000, leaderOf);
  const s = 'pending-leader';
  const cpe = rig!.acs.addDevice({ mode: 'offline' });
  assert.is((await leader.call('POST', 'allocate', { subscriber_id: s })).status, 201);
  const act = await leader.call('POST', 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
  assert.equal([act.status, act.body?.state, act.body?.pending?.length], [200, 'active', 1], JSON.stringify(act.body));
  const killedAt = Date.now();
  await leader.kill();
  const next = (await eventually('a new leader', 5000, leaderOf).catch((e: Error) => assert.unreachable(`${e.message}${why()}`))) as Instance;
  const tookMs = Date.now() - killedAt;
  assert.ok(next !== leader);
  assert.ok(tookMs < 3000, `a new leader ${tookMs} ms after the kill`);
  rig!.acs.setMode(cpe.id, 'online');
  rig!.acs.inform(cpe.id);
  const got = await eventually('the pending step resolved', 15_000, async () => {
    const g = await next.call('GET', `lifecycle/${s}`);
    return g.body?.pending?.length === 0 ? g.body : undefined;
  }).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
  assert.is(got.state, 'active');
  assert.equal(rig!.acs.value(cpe.id, 'Device.DHCPv6.Client.1.Enable'), true);
  await leader.start();
});

test('the leader frozen (SIGSTOP: a hung event loop, a long GC) well past leader_interval_ms → another instance leads meanwhile, and the thawed one steps down', async () => {
  if (!(await up())) return;
  const leader = await eventually('one leader', 5000, leaderOf);
  leader.freeze();
  let next: Instance | undefined;
  try {
    // Leases move off a frozen owner after store.lease_ms; the leader's advisory lock stays on its open connection.
    next = await eventually('a survivor leading while the leader is frozen', LEASE_MS + 6000, async () => {
      const live = rig!.fleet.instances.filter((i) => i !== leader && i.pid !== null);
      const texts = await Promise.all(live.map(metricsOf));
      return live.find((_, k) => sample(texts[k]!, 'ipv6_instance_leader') === 1);
    }).catch(() => undefined);
  } finally {
    leader.thaw();
  }
  assert.ok(next, `no survivor took over the scheduled jobs while ${leader.name} was frozen for ${LEASE_MS + 6000} ms (jobs.pending, leaks, cleanup stop fleet-wide)`);
  await eventually('one leader after the thaw', 5000, leaderOf);
});

test('the pending job takes over a dead owner\'s busy lifecycle → once it settles, the lease is given up and another instance can work on the subscriber', async () => {
  if (!(await up())) return;
  const stuck: string[] = [];
  for (let round = 0; round < 4 && stuck.length === 0; round++) {
    const s = `pending-takeover-${round}`;
    const leader = await eventually('one leader', 5000, leaderOf);
    const owner = rig!.fleet.instances.find((i) => i !== leader)!;
    const cpe = rig!.acs.addDevice({ mode: 'offline' });
    assert.is((await owner.call('POST', 'allocate', { subscriber_id: s })).status, 201);
    const act = await owner.call('POST', 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id });
    assert.equal([act.status, act.body?.pending?.length], [200, 1], JSON.stringify(act.body));
    const from = rig!.acs.requests.length;
    rig!.acs.delayMs = 8000;
    assert.is((await owner.call('POST', 'revoke?wait=0', { subscriber_id: s })).status, 202);
    await eventually('the removal reaching the ACS', 10_000, async () => (cpePosts(cpe.id, from) > 0 ? true : undefined));
    // The offline CPE's configure step comes due while the revocation is in flight: the leader's
    // pending job picks the lifecycle up and waits for the owner's lease.
    await eventually('the pending step due', 10_000, async () => {
      const { rows } = await db.pool.query<{ due: boolean }>('SELECT next_pending_at <= $2 AS due FROM lifecycles WHERE subscriber_id = $1 AND busy = 1', [s, new Date().toISOString()]);
      return rows[0]?.due ? true : undefined;
    });
    await sleep(1500);
    await owner.kill();
    rig!.acs.delayMs = 0;
    // The CPE back: the resumed removal is confirmed, nothing stays pending (no later pending pass for it).
    rig!.acs.setMode(cpe.id, 'online');
    await eventually(`${s} revoked`, 15_000, async () => {
      const g = await leader.call('GET', `lifecycle/${s}`);
      return g.body?.state === 'revoked' && g.body.pending.length === 0 ? true : undefined;
    }).catch((e: Error) => assert.unreachable(`${e.message}${why()}`));
    await sleep(3 * LEASE_MS);
    const lease = await db.lease(s);
    if (lease && lease.expires_at > new Date()) {
      const holder = rig!.fleet.instances.find((i) => i.owns(lease.owner));
      const other = rig!.fleet.instances.find((i) => i !== holder && i.pid !== null)!;
      const again = await other.call('POST', 'allocate?wait=5000', { subscriber_id: s });
      stuck.push(`${s}: revoked, yet ${holder?.name ?? lease.owner} (leader: ${leader.name}) still holds and renews its lease ${3 * LEASE_MS} ms later; allocate via ${other.name} answers ${again.status} ${again.body?.state}`);
    }
    await owner.start();
  }
  assert.equal(stuck, []);
});

test('the leaks job run on every instance at once while allocations, updates and revocations go on across them → nothing live reclaimed; IPAM = store', async () => {
  if (!(await up())) return;
  let running = true;
  const runs: number[] = [];
  const hammer = rig!.fleet.instances.map(async (i) => {
    while (running) {
      const r = await i.call('POST', 'jobs/leaks', {});
      runs.push(r.status);
      await sleep(30);
    }
  });
  const subs = Array.from({ length: 60 }, (_, i) => `leaks-${i}`);
  const bad: string[] = [];
  await Promise.all(subs.map(async (s, i) => {
    for (const [op, body] of [
      ['allocate', { subscriber_id: s }],
      ['activate', { subscriber_id: s, username: `${s}@isp` }],
      ['update', { subscriber_id: s }],
      ['revoke', { subscriber_id: s }],
      ['allocate', { subscriber_id: s }],
      ['activate', { subscriber_id: s, username: `${s}@isp` }],
      ['update', { subscriber_id: s }],
    ] as const) {
      const a = await on(i++).call('POST', `${op}?wait=20000`, body);
      if (a.status >= 300) bad.push(`${s} ${op}: ${a.status} ${JSON.stringify(a.body?.error ?? a.body?.state)}`);
    }
  }));
  running = false;
  await Promise.all(hammer);
  assert.equal(bad, [], `every operation answered 2xx${why()}`);
  // At least one run per instance overlapped the traffic (how many more depends on the machine's load).
  assert.ok(runs.filter((r) => r === 200).length >= rig!.fleet.instances.length, `leak runs: ${JSON.stringify(runs.slice(0, 20))}`);
  assert.equal(runs.filter((r) => r !== 200), [], 'every leak run answered 200');
  assert.equal(await ipamAgreesWithStore(db), []);
  const { rows } = await db.pool.query("SELECT subscriber_id, state FROM lifecycles WHERE subscriber_id LIKE 'leaks-%' AND state NOT IN ('active', 'revoked')");
  assert.equal(rows, []);
  // Each revoked lifecycle's prefixes stay quarantined (hold-down 600 s), none handed back early by a reclaim.
  const { rows: early } = await db.pool.query(
    "SELECT l.subscriber_id, q.prefix FROM lifecycles l JOIN ipam_quarantine q ON q.lifecycle_id = l.id WHERE l.subscriber_id LIKE 'leaks-%' AND l.state = 'revoked' AND q.freed_at IS NULL",
  );
  assert.equal(early, [], 'revoked lifecycles whose prefix is still quarantined but not freed');
});

test('two instances given the same store.instance_id (one configuration file copied to two nodes) → still one at a time on a subscriber: a revoke through the second waits for the first\'s, the CPE asked once', async () => {
  if (!(await up())) return;
  const pair = await startFleet({
    count: 2,
    config: (dir) => {
      const c = instancesConfig(dir, rig!.acs.url);
      return { ...c, store: { ...(c.store as object), instance_id: 'node-1' } };
    },
    env: { [DATABASE_URL_ENV]: rig!.url },
  });
  try {
    const [p, q] = pair.instances as [Instance, Instance];
    const s = 'same-instance-id';
    const { cpe } = await active(p, s);
    const from = rig!.acs.requests.length;
    rig!.acs.delayMs = 3000;
    assert.is((await p.call('POST', 'revoke?wait=0', { subscriber_id: s })).status, 202);
    await eventually('the removal reaching the ACS', 10_000, async () => (cpePosts(cpe.id, from) > 0 ? true : undefined));
    const second = await q.call('POST', 'revoke?wait=15000', { subscriber_id: s });
    rig!.acs.delayMs = 0;
    assert.is(second.body?.state, 'revoked', JSON.stringify(second.body));
    await sleep(500);
    const audit = await db.audit(s);
    assert.equal(chainProblems(s, audit.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), 'revoked'), []);
    assert.is(cpePosts(cpe.id, from), 1, 'the CPE asked to remove IPv6 once: the second instance did not run the step in flight alongside the first');
  } finally {
    await pair.close();
  }
});

test('connections: each instance uses at most store.pool_max plus its two own (lease renewals, leader lock) → 3 × (5 + 2) = 21 suffice under a burst, a kill and a restart', async () => {
  if (!postgresAvailable('review of max_connections with three instances')) return;
  const perInstance = 5 + 2;
  // Two more for this test's own reads; no slot kept for superusers (the instances connect as one).
  const cluster = await startPostgres({ max_connections: 3 * perInstance + 2, superuser_reserved_connections: 0 });
  const acs = await startGenieacsNbi();
  let fleet: Awaited<ReturnType<typeof startFleet>> | null = null;
  const peek = new (await import('pg')).default.Pool({ connectionString: cluster.adminUrl, max: 1 });
  let peak = 0;
  let sampling = true;
  try {
    const url = await cluster.createDatabase('conns');
    fleet = await startFleet({ count: 3, config: (dir) => instancesConfig(dir, acs.url), env: { [DATABASE_URL_ENV]: url } });
    const f = fleet;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await peek.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'conns'");
        peak = Math.max(peak, rows[0]!.n);
        await sleep(20);
      }
    })();
    const burst = (tag: string) =>
      Promise.all(Array.from({ length: 300 }, (_, i) => f.instances[i % 3]!.call('POST', 'allocate?wait=20000', { subscriber_id: `${tag}-${i}` })));
    const first = await burst('c1');
    await f.instances[1]!.kill();
    await f.instances[1]!.start();
    const second = await burst('c2');
    sampling = false;
    await sampler;
    const statuses = [...first, ...second].reduce<Record<number, number>>((m, a) => ((m[a.status] = (m[a.status] ?? 0) + 1), m), {});
    assert.equal(statuses, { 201: 600 }, `${JSON.stringify(statuses)} ${JSON.stringify([...first, ...second].find((a) => a.status !== 201)?.body)}\n${f.warnings(5)}`);
    assert.ok(peak <= 3 * perInstance, `peak ${peak} connections to the database`);
    assert.equal(f.instances.map((i) => i.pid !== null), [true, true, true]);
  } finally {
    sampling = false;
    await peek.end();
    await fleet?.close();
    await acs.close();
    await cluster.stop();
  }
});

test.run();
