import pino from 'pino';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createJobMetrics } from '../../runtime/job-metrics.ts';
import { createScheduler, JobRunningError, UnknownJobError, type JobResult, type JobSpec } from '../../runtime/scheduler.ts';

const test = suite('runtime scheduler: named jobs, one run at a time, job metrics');

interface Held {
  spec: JobSpec;
  runs: { dryRun: boolean }[];
  /** Ends the run in progress. */
  finish(): void;
  fail: boolean;
}

/** A job whose runs wait until `finish()`. */
function heldJob(name: string, trigger: JobSpec['trigger'] = { cron: '0 2 * * *' }): Held {
  let release: (() => void) | null = null;
  const held: Held = {
    runs: [],
    fail: false,
    finish: () => release?.(),
    spec: {
      name,
      trigger,
      run: async ({ dryRun }): Promise<JobResult> => {
        held.runs.push({ dryRun });
        if (!dryRun) await new Promise<void>((r) => (release = r));
        if (held.fail) throw new Error('IPAM down');
        return { counts: { done: 1 }, items: {} };
      },
    },
  };
  return held;
}

/** What `p` rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

function setup(jobs: Held[], leader?: () => boolean) {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const registry = new Registry();
  const scheduler = createScheduler({ jobs: jobs.map((j) => j.spec), timezone: 'UTC', log, metrics: createJobMetrics(registry, jobs.map((j) => j.spec.name)), ...(leader ? { leader } : {}) });
  const series = async () =>
    (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('ipv6_job_'))
      .join('\n');
  return { scheduler, lines, series };
}

test('two overlapping triggers run the job once; the second is skipped with a warning', async () => {
  const job = heldJob('cleanup');
  const { scheduler, lines } = setup([job]);
  const first = scheduler.trigger('cleanup');
  const second = await scheduler.trigger('cleanup');
  assert.is(second, null);
  assert.is(scheduler.isRunning('cleanup'), true);
  job.finish();
  assert.equal((await first)?.counts, { done: 1 });
  assert.is(job.runs.length, 1);
  assert.ok(lines.some((l) => l.job === 'cleanup' && /still running/.test(String(l.msg))));
  assert.is(scheduler.isRunning('cleanup'), false);
});

test('run(job) while it runs is refused (JobRunningError); an unknown job is named with the known ones', async () => {
  const job = heldJob('leaks');
  const { scheduler } = setup([job]);
  const scheduled = scheduler.trigger('leaks');
  const running = await rejection(scheduler.run('leaks'));
  assert.instance(running, JobRunningError);
  assert.is(running.message, 'job leaks is already running');
  const unknown = await rejection(scheduler.run('nightly'));
  assert.instance(unknown, UnknownJobError);
  assert.is(unknown.message, 'unknown job nightly (jobs: leaks)');
  // A preview changes nothing, so it may run beside the real run.
  assert.is((await scheduler.run('leaks', { dryRun: true })).dry_run, true);
  job.finish();
  await scheduled;
  assert.is(job.runs.filter((r) => !r.dryRun).length, 1);
});

test('ipv6_job_runs_total and ipv6_job_last_success_timestamp_seconds move with ok and error runs, not with dry runs', async () => {
  const job = heldJob('cleanup');
  const { scheduler, series } = setup([job]);
  assert.match(await series(), 'ipv6_job_runs_total{scheduled_job="cleanup",outcome="ok"} 0');
  assert.match(await series(), 'ipv6_job_runs_total{scheduled_job="cleanup",outcome="error"} 0');
  assert.not.match(await series(), 'ipv6_job_last_success_timestamp_seconds{', 'no success yet: no timestamp (not 1970)');

  const before = Date.now() / 1000;
  const ok = scheduler.run('cleanup');
  job.finish();
  await ok;
  const text = await series();
  assert.match(text, 'ipv6_job_runs_total{scheduled_job="cleanup",outcome="ok"} 1');
  const stamp = Number(/ipv6_job_last_success_timestamp_seconds\{scheduled_job="cleanup"\} (\S+)/.exec(text)?.[1]);
  assert.ok(stamp >= Math.floor(before) && stamp <= Date.now() / 1000, `last success ${stamp}`);

  job.fail = true;
  const failed = scheduler.run('cleanup');
  job.finish();
  assert.is((await rejection(failed)).message, 'IPAM down');
  const after = await series();
  assert.match(after, 'ipv6_job_runs_total{scheduled_job="cleanup",outcome="error"} 1');
  assert.match(after, `ipv6_job_last_success_timestamp_seconds{scheduled_job="cleanup"} ${stamp}`, 'an error leaves the last success');

  await scheduler.run('cleanup', { dryRun: true }).catch(() => undefined);
  assert.equal(await series(), after, 'a dry run is not a run of the job');
});

test('each run logs its counts', async () => {
  const job = heldJob('cleanup');
  const { scheduler, lines } = setup([job]);
  const run = scheduler.run('cleanup');
  job.finish();
  await run;
  const line = lines.find((l) => l.msg === 'job done');
  assert.is(line?.job, 'cleanup');
  assert.is(line?.done, 1);
  assert.is(typeof line?.duration_ms, 'number');
});

test('start() runs a job on its cron expression in the configured time zone; stop() stops it', async () => {
  const job = heldJob('leaks', { cron: '* * * * * *' });
  const { scheduler, lines } = setup([job]);
  scheduler.start();
  try {
    assert.ok(lines.some((l) => l.msg === 'jobs scheduled' && l.timezone === 'UTC'));
    const deadline = Date.now() + 2500;
    while (job.runs.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.is(job.runs.length, 1, 'ran within a second or two');
    // Held: the next ticks find it running and skip it.
    await new Promise((r) => setTimeout(r, 1100));
    assert.is(job.runs.length, 1);
  } finally {
    scheduler.stop();
    job.finish();
  }
  const n = job.runs.length;
  await new Promise((r) => setTimeout(r, 1100));
  assert.is(job.runs.length, n, 'no run after stop()');
});

test('an interval job (pending) runs every everyMs', async () => {
  let runs = 0;
  const spec: JobSpec = { name: 'pending', trigger: { everyMs: 30 }, run: async () => ({ counts: { worked: runs++ } , items: {} }), idle: () => true };
  const registry = new Registry();
  const scheduler = createScheduler({ jobs: [spec], timezone: 'UTC', log: pino({ level: 'silent' }), metrics: createJobMetrics(registry, ['pending']) });
  scheduler.start();
  await new Promise((r) => setTimeout(r, 200));
  scheduler.stop();
  assert.ok(runs >= 2, `${runs} runs`);
});

test('several instances: a trigger runs the job only while this instance leads; an on-demand run goes anyway', async () => {
  const job = heldJob('cleanup');
  let leads = false;
  const { scheduler } = setup([job], () => leads);
  assert.is(await scheduler.trigger('cleanup'), null);
  assert.is(job.runs.length, 0, 'a follower skips the schedule');
  const asked = scheduler.run('cleanup');
  job.finish();
  await asked;
  assert.is(job.runs.length, 1, 'asked for, it runs');
  leads = true;
  const led = scheduler.trigger('cleanup');
  await new Promise((r) => setImmediate(r));
  job.finish();
  assert.equal((await led)?.counts, { done: 1 });
  assert.is(job.runs.length, 2);
});

test.run();
