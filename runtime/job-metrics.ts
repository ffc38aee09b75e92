import { Counter, Gauge, type Registry } from 'prom-client';

/** How a job run ended. */
export type JobOutcome = 'ok' | 'error';

/** The two series of the scheduled jobs, registered on the service's registry (runtime/metrics.ts). */
export interface JobMetrics {
  /** One finished run (scheduled or on demand; dry runs are not runs of the job). */
  ran(job: string, outcome: JobOutcome, at?: Date): void;
}

export function createJobMetrics(registry: Registry, jobs: readonly string[]): JobMetrics {
  const runs = new Counter({
    name: 'ipv6_job_runs_total',
    help: 'Runs of the scheduled jobs (cleanup, leaks, pending, reconcile), scheduled or on demand, by outcome',
    labelNames: ['scheduled_job', 'outcome'] as const,
    registers: [registry],
  });
  const lastSuccess = new Gauge({
    name: 'ipv6_job_last_success_timestamp_seconds',
    help: 'Unix time of the last successful run of each job; absent until the first one',
    labelNames: ['scheduled_job'] as const,
    registers: [registry],
  });
  // Zero from the start, so rate() and increase() see the first run; the gauge has no meaningful
  // zero (1970 would read as a job that never ran for 56 years) and appears with the first success.
  for (const job of jobs) for (const outcome of ['ok', 'error'] as const) runs.inc({ scheduled_job: job, outcome }, 0);
  return {
    ran(job, outcome, at = new Date()) {
      runs.inc({ scheduled_job: job, outcome });
      if (outcome === 'ok') lastSuccess.set({ scheduled_job: job }, at.getTime() / 1000);
    },
  };
}
