// A review of issue 11 from outside, the database and the processes: PostgreSQL stopped and
// killed mid-traffic, a wrong password or an unreachable database at start, a rolling stop of the
// instance that owns a step, and the connections three instances take, driven only through the
// REST API, the database read only to check invariants.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DATABASE_URL_ENV, instancesConfig, LEASE_MS } from '../support/instances-config.ts';
import { ipamAgreesWithStore } from '../support/instances-db.ts';
import { eventually, INSTANCES_TOKEN, sleep, startFleet, type Instance } from '../support/instances.ts';
import { startGenieacsNbi } from '../support/genieacs-nbi.ts';
import { PG_BIN, postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';
import { active, cpeCalls, db, eventsOf, on, reviewRig, rig, why } from './instances-review-support.ts';

const test = suite('e2e review: three instances on one PostgreSQL, from outside: outages, start and stop');
const up = reviewRig(test);

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
  await eventually('the removal reaching the ACS', 10_000, async () => (cpeCalls(cpe.id, from) > 0 ? true : undefined));
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
