// Runs the named jobs (runtime/jobs.ts) on their cron expression or interval, and on demand. A job
// never runs twice at once: a trigger that finds it running is skipped, an on-demand run is refused.
// With several instances (PostgreSQL) the schedule fires only on the leader (`leader`), so each
// scheduled run happens once across the fleet; an on-demand run goes where it was asked.
import { Cron } from 'croner';
import type { Logger } from 'pino';
import type { JobMetrics } from './job-metrics.ts';

/** When a job runs: a cron expression (in the scheduler's timezone), or every so many milliseconds. */
export type JobTrigger = { cron: string } | { everyMs: number };

export interface RunOptions {
  /** Report what the run would do and change nothing. */
  dryRun: boolean;
  /** Aborted by stop(): a job that works in batches ends after the current one. */
  signal: AbortSignal;
}

/** One job: what it does, when, and how its result is told in the log. */
export interface JobSpec {
  name: string;
  trigger: JobTrigger;
  run(opts: RunOptions): Promise<JobResult>;
  /** True for a result not worth an info line (a pending tick that found nothing): it is logged at debug. */
  idle?: (result: JobResult) => boolean;
}

/**
 * What a run did, or (dry) would do: counts, logged and answered, and for each count the first
 * `ITEMS_MAX` things it counts (lifecycles, prefixes), answered only. A dry run uses the same names.
 */
export interface JobResult {
  counts: Record<string, number>;
  items: Record<string, unknown[]>;
}

/** Items listed per count at most: a retention run may delete a million rows. */
export const ITEMS_MAX = 1000;

/** The job name the API was given is not a job. */
export class UnknownJobError extends Error {
  constructor(
    readonly job: string,
    readonly known: readonly string[],
  ) {
    super(`unknown job ${job} (jobs: ${known.join(', ')})`);
  }
}

/** The job is running already (scheduled or on demand): it is not started a second time. */
export class JobRunningError extends Error {
  constructor(readonly job: string) {
    super(`job ${job} is already running`);
  }
}

/** What a run answered (`POST /jobs/{job}`). */
export interface JobRun {
  job: string;
  dry_run: boolean;
  started_at: string;
  duration_ms: number;
  counts: JobResult['counts'];
  items: JobResult['items'];
}

export type Scheduler = ReturnType<typeof createScheduler>;

export function createScheduler(opts: {
  jobs: readonly JobSpec[];
  timezone: string;
  log: Logger;
  metrics: JobMetrics;
  /** Several instances: whether this one leads now; a trigger on any other is skipped. Unset: always. */
  leader?: () => boolean;
}) {
  const byName = new Map(opts.jobs.map((j) => [j.name, j]));
  const running = new Set<string>();
  const abort = new AbortController();
  const crons: { job: string; cron: Cron }[] = [];
  const timers: NodeJS.Timeout[] = [];

  const spec = (name: string): JobSpec => {
    const job = byName.get(name);
    if (!job) throw new UnknownJobError(name, [...byName.keys()]);
    return job;
  };

  async function execute(job: JobSpec, dryRun: boolean, by: 'schedule' | 'api'): Promise<JobRun> {
    const started = new Date();
    const log = opts.log.child({ job: job.name, dry_run: dryRun, by });
    try {
      const result = await job.run({ dryRun, signal: abort.signal });
      const duration_ms = Date.now() - started.getTime();
      // A dry run did not do the job: it neither counts as a run nor moves the last success.
      if (!dryRun) opts.metrics.ran(job.name, 'ok');
      const line = { ...result.counts, duration_ms };
      if (job.idle?.(result) && !dryRun) log.debug(line, 'job done');
      else log.info(line, dryRun ? 'job dry run done' : 'job done');
      return { job: job.name, dry_run: dryRun, started_at: started.toISOString(), duration_ms, ...result };
    } catch (err) {
      if (!dryRun) opts.metrics.ran(job.name, 'error');
      log.error({ err: String(err), duration_ms: Date.now() - started.getTime() }, 'job failed');
      throw err;
    }
  }

  /** Runs a job now, as `POST /jobs/{job}` does. A dry run may overlap a real one: it changes nothing. */
  async function run(name: string, o: { dryRun?: boolean; by?: 'schedule' | 'api' } = {}): Promise<JobRun> {
    const job = spec(name);
    const dryRun = o.dryRun ?? false;
    if (dryRun) return execute(job, true, o.by ?? 'api');
    if (running.has(name)) throw new JobRunningError(name);
    running.add(name);
    try {
      return await execute(job, false, o.by ?? 'api');
    } finally {
      running.delete(name);
    }
  }

  /** What a cron tick or an interval does: run, unless the job is running already (then skip). Never throws. */
  async function trigger(name: string): Promise<JobRun | null> {
    if (abort.signal.aborted || opts.leader?.() === false) return null;
    try {
      return await run(name, { by: 'schedule' });
    } catch (err) {
      if (err instanceof JobRunningError) opts.log.warn({ job: name }, 'job still running at its next trigger; this trigger is skipped');
      return null;
    }
  }

  return {
    names: () => [...byName.keys()],
    run,
    trigger,
    /** Whether the job is running now (a real run). */
    isRunning: (name: string) => running.has(name),
    /** The next time each scheduled job runs, for the start-up log line. */
    next: () => Object.fromEntries(crons.map((c) => [c.job, c.cron.nextRun()?.toISOString() ?? null])),
    start() {
      for (const job of opts.jobs) {
        if ('cron' in job.trigger) {
          // Unnamed: croner's names are process-wide, and tests compose several services in one process.
          // unref: a pending cron tick does not keep the process alive; the HTTP server does.
          const cron = new Cron(job.trigger.cron, { timezone: opts.timezone, unref: true }, async () => void (await trigger(job.name)));
          crons.push({ job: job.name, cron });
        } else {
          const t = setInterval(() => void trigger(job.name), job.trigger.everyMs);
          t.unref();
          timers.push(t);
        }
      }
      opts.log.info({ timezone: opts.timezone, next: this.next() }, 'jobs scheduled');
    },
    /** Stops every trigger and asks running jobs to end after their current batch. */
    stop() {
      abort.abort();
      for (const c of crons) c.cron.stop();
      for (const t of timers) clearInterval(t);
    },
  };
}
