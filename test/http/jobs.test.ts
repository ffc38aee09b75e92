import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { IpamPort } from '../../services/ipam/port.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('POST /jobs/{job}: the scheduled jobs on demand, dry runs, job metrics');
let h: Harness;
let release: (() => void) | null = null;
let hold = false;

test.before.each(async () => {
  hold = false;
  h = await startHarness({
    config: { runtime: { stale_allocated_after_s: 60 } },
    // While `hold`, the leak check waits: a `leaks` run stays running.
    wrapIpam: (fake) => {
      const port: IpamPort = {
        ...fake,
        markedPrefixes: async (signal) => {
          if (hold) await new Promise<void>((r) => (release = r));
          return fake.markedPrefixes(signal);
        },
      };
      return port;
    },
  });
});
test.after.each(async () => {
  await h.close();
});

const job = (name: string, query = '') => h.request('POST', `${BASE}/jobs/${name}${query}`);
const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString();
const ids = () => (h.composed.db.prepare('SELECT id, state FROM lifecycles ORDER BY id').all() as { id: string; state: string }[]);
const series = async (name: string) => (await h.get('/metrics')).text.split('\n').filter((l) => l.startsWith(name)).join('\n');

/** A lifecycle allocated and revoked through the API, its revocation moved `days` back. */
async function revokedDaysAgo(subscriber: string, days: number): Promise<string> {
  await h.post('allocate', { subscriber_id: subscriber });
  const revoked = await h.post('revoke', { subscriber_id: subscriber });
  assert.is(revoked.body.state, 'revoked');
  const row = h.composed.store.get(revoked.body.lifecycle_id)!;
  h.composed.store.save({ ...row, revoked_at: daysAgo(days) }, null);
  return row.id;
}

test('cleanup: the dry run reports the stale allocation and the expired lifecycles, changes nothing; the run acts on that set', async () => {
  const oldA = await revokedDaysAgo('old-a', 120);
  const oldB = await revokedDaysAgo('old-b', 91);
  await revokedDaysAgo('recent', 30);
  await h.post('allocate', { subscriber_id: 'live' });
  await h.post('activate', { subscriber_id: 'live', username: 'live@isp' });
  const stale = await h.post('allocate', { subscriber_id: 'stale' });
  const staleRow = h.composed.store.get(stale.body.lifecycle_id)!;
  h.composed.store.save({ ...staleRow, allocated_at: new Date(Date.now() - 3_600_000).toISOString() }, null);

  const rows = ids();
  const gauges = await series('ipv6_lifecycle_lifecycles');
  const jobSeries = await series('ipv6_job_');
  const dry = await job('cleanup', '?dry_run=true');
  assert.is(dry.status, 200, dry.text);
  assert.is(dry.body.dry_run, true);
  assert.equal(dry.body.counts, { stale_revoked: 1, retention_deleted: 2 });
  assert.equal(dry.body.items.stale_revoked, [{ lifecycle_id: stale.body.lifecycle_id, subscriber_id: 'stale' }]);
  assert.equal(dry.body.items.retention_deleted.map((l: { lifecycle_id: string }) => l.lifecycle_id), [oldA, oldB]);
  assert.equal(ids(), rows, 'nothing deleted, nothing revoked');
  assert.equal(await series('ipv6_lifecycle_lifecycles'), gauges);
  assert.equal(await series('ipv6_job_'), jobSeries, 'a dry run is no run');

  const run = await job('cleanup');
  assert.is(run.status, 200, run.text);
  assert.is(run.body.dry_run, false);
  assert.equal(run.body.counts, dry.body.counts);
  assert.equal(run.body.items, dry.body.items, 'the run acted on what the dry run reported');
  assert.equal((await h.get(`${BASE}/lifecycle/stale`)).body.state, 'revoked');
  assert.equal(
    ids().map((r) => r.id).filter((id) => id === oldA || id === oldB),
    [],
  );
  // Past retention the lifecycle is gone (404); its audit trail stays readable.
  const gone = await h.get(`${BASE}/lifecycle/old-a`);
  assert.is(gone.status, 404);
  const trail = await h.get(`${BASE}/lifecycle/old-a/events`);
  assert.is(trail.status, 200);
  assert.equal(trail.body.events.map((e: { type: string }) => e.type).slice(0, 1), ['CREATED']);
  assert.equal(trail.body.events.at(-1).to, 'revoked');
  assert.is((await h.get(`${BASE}/lifecycle/recent`)).body.state, 'revoked');
  assert.is((await h.get(`${BASE}/lifecycle/live`)).body.state, 'active');
  // The kept gauge still equals the table.
  const revokedRows = ids().filter((r) => r.state === 'revoked').length;
  assert.match(await series('ipv6_lifecycle_lifecycles'), `ipv6_lifecycle_lifecycles{state="revoked"} ${revokedRows}`);
  assert.match(await series('ipv6_job_'), 'ipv6_job_runs_total{scheduled_job="cleanup",outcome="ok"} 1');
  assert.match(await series('ipv6_job_'), /ipv6_job_last_success_timestamp_seconds\{scheduled_job="cleanup"\} \d/);
});

test('leaks: the dry run names the prefix it would reclaim and leaves it in IPAM; the run reclaims exactly it', async () => {
  await h.post('allocate', { subscriber_id: 'leaky' });
  const revoked = await h.post('revoke', { subscriber_id: 'leaky' });
  await h.ipam.allocate({ key: 'stray', lifecycleId: revoked.body.lifecycle_id, subscriberId: 'leaky', pool: 'residential', prefixLength: 56 });
  const held = h.ipam.allocations();
  const stored = h.composed.db.prepare('SELECT * FROM prefix_leaks').all();
  const dry = await job('leaks', '?dry_run=true');
  assert.is(dry.status, 200, dry.text);
  assert.equal(dry.body.counts, { reclaimed: 1, leaked: 1 });
  assert.equal(dry.body.items.reclaimed, [{ lifecycle_id: revoked.body.lifecycle_id, pool: 'residential', prefix: held[0]!.prefix }]);
  assert.equal(h.ipam.allocations(), held, 'IPAM still holds it');
  assert.equal(h.composed.db.prepare('SELECT * FROM prefix_leaks').all(), stored, 'a preview stores no leak');

  const run = await job('leaks');
  assert.is(run.status, 200, run.text);
  assert.equal(run.body.items, dry.body.items);
  assert.equal(run.body.counts, { reclaimed: 1, leaked: 0, swept: 0, given_back: 0 });
  assert.equal(h.ipam.allocations(), []);
});

test('pending: the dry run lists the lifecycles whose pending CPE work is due', async () => {
  const dry = await job('pending', '?dry_run=true');
  assert.equal([dry.status, dry.body.counts, dry.body.items], [200, { due: 0 }, { due: [] }]);
  assert.equal((await job('pending')).body.counts, { worked: 0 });
});

test('an unknown job is 404 naming it; bad parameters are 400; no token is 401', async () => {
  const r = await job('nightly');
  assert.is(r.status, 404);
  assert.equal(r.body.error, { code: 'not_found', message: 'unknown job nightly (jobs: cleanup, leaks, pending, reconcile)', field: 'job' });
  const bad = await job('cleanup', '?dry_run=yes');
  assert.equal([bad.status, bad.body.error.field], [400, 'dry_run']);
  const stray = await job('cleanup', '?wait=0');
  assert.equal([stray.status, stray.body.error.field], [400, 'wait']);
  const body = await h.request('POST', `${BASE}/jobs/cleanup`, { json: { dry_run: true } });
  assert.equal([body.status, body.body.error.field], [400, 'dry_run']);
  assert.is((await h.request('POST', `${BASE}/jobs/cleanup`, { token: null })).status, 401);
});

test('a job already running is 409 job_running, and runs once', async () => {
  hold = true;
  const first = job('leaks');
  const until = Date.now() + 2000;
  while (!h.composed.jobs.isRunning('leaks') && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  const second = await job('leaks');
  assert.is(second.status, 409);
  assert.equal(second.body.error, { code: 'job_running', message: 'job leaks is already running', field: 'job' });
  // The scheduled trigger meanwhile is skipped, not queued.
  assert.is(await h.composed.jobs.trigger('leaks'), null);
  hold = false;
  release?.();
  assert.is((await first).status, 200);
  assert.match(await series('ipv6_job_runs_total{scheduled_job="leaks"'), 'ipv6_job_runs_total{scheduled_job="leaks",outcome="ok"} 1');
});

test('a run that fails answers the error and counts outcome="error"; the last success stays unset', async () => {
  h.ipam.failNext('markedPrefixes');
  const r = await job('leaks');
  assert.is(r.status, 502, r.text);
  const text = await series('ipv6_job_');
  assert.match(text, 'ipv6_job_runs_total{scheduled_job="leaks",outcome="error"} 1');
  assert.match(text, 'ipv6_job_runs_total{scheduled_job="leaks",outcome="ok"} 0');
  assert.not.match(text, 'ipv6_job_last_success_timestamp_seconds{scheduled_job="leaks"}');
  assert.ok(h.logs.some((l) => l.msg === 'job failed' && l.job === 'leaks'));
});

test.run();
