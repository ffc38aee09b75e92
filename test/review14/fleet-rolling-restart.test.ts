// Review 14, several instances under a steady keyed client load spread over the three: SIGHUP to the
// leader (main.ts ignores it with a warning) and a rolling restart (SIGTERM one instance at a time,
// then start it again). No request lost or answered 5xx but a 503 with Retry-After, no operation
// done twice, the scheduled job keeps running once per fleet (every 2 s here), one prefix each.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { chainProblems } from '../support/audit-chain.ts';
import { DATABASE_URL_ENV, instancesConfig } from '../support/instances-config.ts';
import { invariantDb, ipamAgreesWithStore, type InvariantDb } from '../support/instances-db.ts';
import { INSTANCES_TOKEN, sleep, startFleet, type Fleet, type Instance } from '../support/instances.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review14: fleet SIGHUP to the leader and a rolling restart under load');
let rig: { cluster: PgCluster; acs: GenieacsNbi; fleet: Fleet; db: InvariantDb } | null = null;
const JOB_EVERY_S = 2;

test.before(async () => {
  if (!postgresAvailable('review14 fleet rolling restart')) return;
  const cluster = await startPostgres({ synchronous_commit: 'on' });
  const acs = await startGenieacsNbi();
  const url = await cluster.createDatabase('rolling');
  const fleet = await startFleet({
    count: 3,
    config: (dir) => ({ ...instancesConfig(dir, acs.url), jobs: { cleanup: { cron: `*/${JOB_EVERY_S} * * * * *` } } }),
    env: { [DATABASE_URL_ENV]: url },
  });
  rig = { cluster, acs, fleet, db: invariantDb(url) };
});
test.after(async () => {
  await rig?.db.close();
  await rig?.fleet.close();
  await rig?.acs.close();
  await rig?.cluster.stop();
});
const why = () => `\n${rig!.fleet.warnings()}`;

interface Said { status: number; body: any; retryAfter: string | null; error: string | null }
async function send(i: Instance, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Said> {
  try {
    const r = await fetch(`${i.origin}/api/v1/network/ipv6/${path}`, {
      method,
      headers: { authorization: `Bearer ${INSTANCES_TOKEN}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    let parsed: any = null;
    try { parsed = JSON.parse(text); } catch { parsed = text; }
    return { status: r.status, body: parsed, retryAfter: r.headers.get('retry-after'), error: null };
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return { status: 0, body: null, retryAfter: null, error: cause?.code ?? cause?.message ?? (e as Error).message };
  }
}

/** Each instance's counter of cleanup runs and its leader gauge, by PID (a restarted process counts from 0). */
async function scrape(i: Instance): Promise<{ pid: number; runs: number; leader: number } | null> {
  const pid = i.pid;
  if (pid === null) return null;
  const text = await fetch(`${i.origin}/metrics`).then((r) => (r.ok ? r.text() : null), () => null);
  if (text === null) return null;
  let runs = 0;
  let leader = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('ipv6_job_runs_total{') && line.includes('scheduled_job="cleanup"')) runs += Number(line.split(' ').at(-1));
    if (line.startsWith('ipv6_instance_leader ')) leader = Number(line.split(' ').at(-1));
  }
  return { pid, runs, leader };
}

/** Steady keyed load: each subscriber through allocate … reactivate, every try on the next instance. */
function load(prefix: string, count: number) {
  const subs = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  const ops = ['allocate', 'activate', 'update', 'suspend', 'reactivate'] as const;
  const bad: string[] = [];
  let refused = 0;
  let reset = 0;
  let unavailable = 0;
  let requests = 0;
  const cpes = subs.map(() => rig!.acs.addDevice().id);
  const done = Promise.all(subs.map(async (s, n) => {
    for (const [k, op] of ops.entries()) {
      const key = { 'Idempotency-Key': `review14-${s}-${k}` };
      const deadline = Date.now() + 60_000;
      for (let t = n + k; ; t++) {
        const i = rig!.fleet.instances[t % 3]!;
        requests++;
        const a = await send(i, 'POST', `${op}?wait=3000`, { subscriber_id: s, ...(op === 'activate' ? { username: `${s}@isp`, cpe_id: cpes[n] } : {}) }, key);
        if (a.status === 200 || a.status === 201) break;
        // Refused: nothing accepted it (the instance is down); a client or balancer tries another.
        if (a.status === 0 && a.error === 'ECONNREFUSED') refused++;
        // A kept-alive connection the stopping instance closed as idle while this request was on its
        // way (the HTTP/1.1 keep-alive race): no answer, so the client sends it again with its key,
        // which afterChecks prove ran once.
        else if (a.status === 0 && (a.error === 'UND_ERR_SOCKET' || a.error === 'ECONNRESET')) reset++;
        else if (a.status === 503 && a.retryAfter !== null) unavailable++;
        else if (a.status !== 202) bad.push(`${s} ${op} on ${i.name}: ${a.status} ${a.error ?? ''} ${a.retryAfter ?? ''} ${JSON.stringify(a.body)}`);
        if (Date.now() > deadline) {
          bad.push(`${s} ${op}: not done within 60 s`);
          return;
        }
        await sleep(100 + (n % 7) * 20);
      }
      await sleep(50);
    }
  }));
  return { subs, bad, done, stats: () => ({ requests, refused, reset, unavailable }) };
}

async function afterChecks(subs: string[]) {
  const db = rig!.db;
  for (const s of subs) {
    const lc = await db.lifecycleOf(s);
    assert.is(lc?.state, 'active', s);
    const all = await db.audit(s);
    const trail = all.filter((r) => r.lifecycle_id === all.at(-1)!.lifecycle_id);
    assert.equal(chainProblems(s, trail.map((r) => ({ type: r.type, from: r.from_state, to: r.to_state })), lc!.state), [], s);
    for (const type of ['ACTIVATE', 'UPDATE', 'SUSPEND', 'REACTIVATE']) assert.is(trail.filter((r) => r.type === type).length, 1, `${s}: ${type} once`);
    assert.is((await db.quarantined(lc!.id)).length, 1, `${s}: one old prefix quarantined`);
  }
  assert.equal(await db.subscribersWithTwoLive(), []);
  assert.equal(await ipamAgreesWithStore(db), []);
  const leaks = await send(rig!.fleet.instances[0]!, 'POST', 'jobs/leaks', {});
  assert.is(leaks.status, 200, JSON.stringify(leaks.body));
  assert.equal([leaks.body?.counts?.leaked, leaks.body?.counts?.reclaimed], [0, 0], JSON.stringify(leaks.body));
  assert.equal(await ipamAgreesWithStore(db), []);
}

test('SIGHUP to the leader mid-load: nothing dropped, it keeps running and leading', async () => {
  if (!rig) {
    assert.not.ok(process.env.CI === 'true', 'PostgreSQL is needed on CI');
    return;
  }
  await sleep(1500);
  const before = await Promise.all(rig.fleet.instances.map(scrape));
  const leaders = before.flatMap((m, i) => (m?.leader === 1 ? [i] : []));
  assert.is(leaders.length, 1, `one leader: ${JSON.stringify(before)}`);
  const leader = rig.fleet.instances[leaders[0]!]!;
  const pid = leader.pid!;
  const l = load('hup', 18);
  await sleep(1200);
  process.kill(pid, 'SIGHUP');
  await sleep(800);
  if (leader.pid !== null) process.kill(pid, 'SIGHUP');
  await l.done;
  await sleep(JOB_EVERY_S * 1000 + 500);
  const after = await Promise.all(rig.fleet.instances.map(scrape));
  assert.equal(l.bad, [], why());
  assert.is(leader.pid, pid, 'the leader still runs, same process');
  assert.equal(after.map((m) => m?.leader), before.map((m) => m?.leader), `leadership kept: ${JSON.stringify(after)}`);
  assert.ok(after[leaders[0]!]!.runs > before[leaders[0]!]!.runs, 'the leader still runs the job');
  assert.ok(leader.warnings().some((w) => /"signal":"SIGHUP"/.test(w)), 'the SIGHUP is logged');
  await afterChecks(l.subs);
  console.log(`SIGHUP: ${JSON.stringify(l.stats())}`);
});

test('rolling restart under load: no request lost, only 503 with Retry-After, each operation once, the job once per fleet', async () => {
  if (!rig) {
    assert.not.ok(process.env.CI === 'true', 'PostgreSQL is needed on CI');
    return;
  }
  for (const i of rig.fleet.instances) if (i.pid === null) await i.start();
  const runs = new Map<number, number>();
  const leaderSeen: string[] = [];
  let scraping = true;
  const t0 = Date.now();
  const scraper = (async () => {
    while (scraping) {
      const ms = await Promise.all(rig!.fleet.instances.map(scrape));
      for (const m of ms) if (m) runs.set(m.pid, Math.max(runs.get(m.pid) ?? 0, m.runs));
      leaderSeen.push(ms.map((m) => (m ? String(m.leader) : '-')).join(''));
      await sleep(250);
    }
  })();
  const base = new Map<number, number>();
  await sleep(300);
  for (const [p, r] of runs) base.set(p, r);
  // The ACS answers slowly: operations are in flight when each SIGTERM comes (the drain's case).
  rig.acs.delayMs = 400;
  const l = load('roll', 24);
  for (const inst of rig.fleet.instances) {
    await sleep(1500);
    const code = await inst.stop();
    assert.is(code, 0, `${inst.name} exit code${why()}`);
    await sleep(500);
    await inst.start();
  }
  await l.done;
  rig.acs.delayMs = 0;
  await sleep(JOB_EVERY_S * 1000 + 500);
  scraping = false;
  await scraper;
  const seconds = (Date.now() - t0) / 1000;
  const total = [...runs].reduce((n, [p, r]) => n + r - (base.get(p) ?? 0), 0);
  assert.equal(l.bad, [], why());
  assert.equal(leaderSeen.filter((x) => (x.match(/1/g) ?? []).length > 1), [], 'never two leaders at once');
  // Once per fleet: about one run per period over the window, never one per instance.
  assert.ok(total <= seconds / JOB_EVERY_S + 2, `cleanup ran ${total} times in ${seconds.toFixed(1)} s${why()}`);
  assert.ok(total >= seconds / JOB_EVERY_S / 2, `cleanup kept running: ${total} times in ${seconds.toFixed(1)} s`);
  await afterChecks(l.subs);
  console.log(`rolling: ${JSON.stringify(l.stats())}, cleanup ${total} runs in ${seconds.toFixed(1)} s, leader samples ${[...new Set(leaderSeen)].join(',')}`);
});

test.run();
