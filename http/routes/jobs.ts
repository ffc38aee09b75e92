// `POST /jobs/{job}`: runs one of the scheduled jobs now (runtime/jobs.ts), or with `?dry_run=true`
// says what it would do and changes nothing.
import { z } from 'zod';
import { ITEMS_MAX, JobRunningError, UnknownJobError, type JobRun } from '../../runtime/scheduler.ts';
import { ApiError } from '../errors.ts';
import { errorResponse, idempotencyKey } from '../schemas.ts';
import { parseInput } from '../validation.ts';
import { API_BASE, API_ERRORS, errorResponses, type RouteSpec } from './route.ts';

/** What the route needs of the scheduler (runtime/scheduler.ts). */
export interface JobRunner {
  names(): string[];
  run(name: string, opts: { dryRun?: boolean; by?: 'api' }): Promise<JobRun>;
}

const jobPath = z.strictObject({
  job: z.string().min(1).max(64).meta({ description: 'The job: `cleanup`, `leaks`, `pending` or `reconcile`', example: 'cleanup' }),
});
const jobQuery = z.strictObject({
  dry_run: z
    .enum(['true', 'false'])
    .optional()
    .meta({ description: '`true`: answer what the run would do (the same counts and items), change nothing' }),
});
// The same schemas for a run and its preview: a dry run's counts and items are what the real run acts on.
const items = z.array(z.record(z.string(), z.unknown()));
export const jobRunResponse = z
  .object({
    job: z.string(),
    dry_run: z.boolean(),
    started_at: z.string().meta({ format: 'date-time' }),
    duration_ms: z.int().min(0),
    counts: z.record(z.string(), z.int().min(0)).meta({
      description:
        'cleanup: `stale_revoked`, `retention_deleted`; leaks: `reclaimed`, `leaked` (after the run; dry: now), `swept` and `given_back` (not in a dry run); pending: `worked` (dry: `due`); reconcile: one per kind of difference and `repaired` (dry: `would_repair`)',
      example: { stale_revoked: 0, retention_deleted: 12 },
    }),
    items: z.record(z.string(), items).meta({ description: `For each count, the first ${ITEMS_MAX} lifecycles or prefixes it counts` }),
  })
  .meta({ id: 'JobRun' });

const json = <S>(schema: S) => ({ 'application/json': { schema } });

export function jobRoutes(jobs: JobRunner): RouteSpec[] {
  return [
    {
      method: 'post',
      path: `${API_BASE}/jobs/{job}`,
      operation: {
        tags: ['jobs'],
        security: [{ bearer: [] }],
        operationId: 'runJob',
        summary: 'Run a scheduled job now, or preview it with `dry_run=true`',
        description:
          'Jobs: `cleanup` (stale allocations revoked, revoked lifecycles past `jobs.cleanup.retention_days` deleted; their events stay), ' +
          '`leaks` (leak check, leaked prefixes reclaimed, NetBox hold-downs swept, embedded blocks past their hold-down given back), `pending` (pending CPE steps retried), ' +
          '`reconcile` (IPAM, lifecycles, radreply, radacct and CPEs compared, the unambiguous repaired; `GET /reconciliation` lists the differences). ' +
          'Answers when the run has ended. A dry run changes nothing, feeds no job metric and may run beside a real one.',
        // Every POST goes through the body reader and Idempotency-Key (http/app.ts): a key replays the run's answer.
        requestParams: { path: jobPath, query: jobQuery, header: z.object({ 'Idempotency-Key': idempotencyKey.optional() }) },
        requestBody: { required: false, content: json(z.strictObject({})) },
        responses: {
          '200': { description: 'The run ended (or, dry, what it would do)', content: json(jobRunResponse) },
          ...errorResponses(...API_ERRORS, 413, 415, 422, 502),
          '404': { description: '`not_found`: no such job (`field` is `job`)', content: json(errorResponse) },
          '409': { description: '`job_running`: the job is running already (scheduled or on demand); nothing was started', content: json(errorResponse) },
        },
      },
      handler: async (ctx) => {
        const { job } = parseInput(jobPath, { ...ctx.params }, 'path');
        const { dry_run } = parseInput(jobQuery, { ...ctx.query }, 'query');
        parseInput(z.strictObject({}), ctx.request.body ?? {}, 'body');
        try {
          ctx.body = await jobs.run(job, { dryRun: dry_run === 'true', by: 'api' });
        } catch (err) {
          if (err instanceof UnknownJobError) throw new ApiError('not_found', err.message, { field: 'job' });
          if (err instanceof JobRunningError) throw new ApiError('job_running', err.message, { field: 'job' });
          throw err;
        }
      },
    },
  ];
}
