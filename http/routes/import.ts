// `POST /import`: brownfield adoption (services/adoption/). A dry run unless `?dry_run=false`: the
// plan with every conflict named, as JSON or (`?format=csv`) as the CSV an operator fixes and feeds back.
import { z } from 'zod';
import { IMPORTED_STATES } from '../../machines/types.ts';
import type { ImportReport, ImportRequest } from '../../services/adoption/importer.ts';
import { Readable } from 'node:stream';
import { jsonInSlices, toCsv } from '../../services/adoption/report.ts';
import { CONFLICT_KINDS } from '../../services/adoption/types.ts';
import { cpeIdName, newSubscriberIdName, usernameName } from '../../services/names.ts';
import { ApiError } from '../errors.ts';
import { keyedRequest } from '../idempotency.ts';
import { errorResponse, idempotencyKey } from '../schemas.ts';
import { parseInput, parseInputInSlices } from '../validation.ts';
import { API_BASE, API_ERRORS, errorResponses, type RouteSpec } from './route.ts';

/** What the route needs: the one import of services/adoption/importer.ts, bound to the service's ports. */
export type Importer = (req: ImportRequest, signal?: AbortSignal) => Promise<ImportReport>;

const importQuery = z.strictObject({
  dry_run: z.enum(['true', 'false']).optional().meta({ description: '`false` applies the plan; by default (`true`) only the plan is answered and nothing changes' }),
  format: z.enum(['json', 'csv']).optional().meta({ description: '`csv`: the report as CSV (the file source columns plus `conflict`; a cell starting with = + - @ tab or CR or the full-width ＝ ＋ － ＠, a spreadsheet formula, or with \' gets a leading \'); `json` by default' }),
});

const subscriberRule = z
  .union([
    z.strictObject({ custom_field: z.string().min(1).max(100) }),
    z.strictObject({ tenant: z.enum(['name', 'slug', 'id']) }),
    z.strictObject({ description: z.string().min(1).max(500).meta({ description: 'A regular expression; its first capture group is the subscriber id' }) }),
  ])
  .meta({ description: 'How a NetBox prefix names its subscriber: a custom field, its tenant, or a pattern over its description' });

// The names as POST /allocate and /activate take them (services/names.ts): a record the API would
// refuse is a 400 naming it, not a line the plan carries as `invalid_name` (a 256-character
// subscriber id was let through here while the API stops at 128). The plan still names such
// names where no request validated them: NetBox and RADIUS.
export const fileRecord = z
  .strictObject({
    subscriber_id: newSubscriberIdName,
    prefix: z.string().min(1).max(64),
    username: usernameName.nullish(),
    cpe_id: cpeIdName.nullish(),
    state: z.enum(IMPORTED_STATES).nullish(),
  })
  .meta({ id: 'ImportRecord' });

const MAX_RECORDS = 1_000_000;
/** File records validated per turn of the loop (~1.3 µs each). */
export const RECORD_SLICE = 2000;

export const importBody = z
  .strictObject({
    sources: z.strictObject({
      netbox: z.strictObject({ subscriber: subscriberRule }).optional().meta({ description: 'The prefixes NetBox holds inside each NetBox pool\'s parent' }),
      radius: z
        .strictObject({ sessions: z.boolean().optional().meta({ description: 'Also read open radacct sessions (default true)' }) })
        .optional()
        .meta({ description: 'radreply rows carrying Delegated-IPv6-Prefix, and open radacct sessions; only read' }),
      file: z.strictObject({ records: z.array(fileRecord).max(MAX_RECORDS) }).optional().meta({ description: 'Records for the embedded IPAM, or the mapping of RADIUS usernames to subscriber ids' }),
    }),
    options: z
      .strictObject({
        subscriber_from_username: z.boolean().optional().meta({ description: 'A prefix nothing else names the subscriber of takes its RADIUS username (default false)' }),
        batch_size: z.int().min(1).max(10_000).optional().meta({ description: 'Subscribers committed per transaction when applying (default 500)' }),
      })
      .optional(),
  })
  .meta({ id: 'ImportRequest' });

const conflict = z.object({ kind: z.enum(CONFLICT_KINDS), message: z.string() });
const entry = z.object({
  subscriber_id: z.string().nullable(),
  prefix: z.string(),
  pool: z.string().nullable(),
  ipam: z.enum(['embedded', 'netbox', 'fake']).nullable(),
  username: z.string().nullable(),
  cpe_id: z.string().nullable(),
  state: z.enum(IMPORTED_STATES).nullable(),
  sources: z.array(z.enum(['netbox', 'radreply', 'radacct', 'file'])),
  netbox_prefix_id: z.int().nullable(),
  lifecycle_id: z.string().nullable(),
  action: z.enum(['adopt', 'adopted', 'conflict']),
  conflicts: z.array(conflict),
});
export const importReport = z
  .object({
    dry_run: z.boolean(),
    generated_at: z.string().meta({ format: 'date-time' }),
    sources: z.array(z.string()),
    summary: z.object({
      entries: z.int().min(0),
      adopt: z.int().min(0),
      adopted: z.int().min(0),
      conflict: z.int().min(0),
      conflicts_by_kind: z.partialRecord(z.enum(CONFLICT_KINDS), z.int().min(0)),
    }),
    applied: z.object({ adopted: z.int().min(0), failed: z.array(z.object({ subscriber_id: z.string(), prefix: z.string(), error: z.string() })) }).nullable(),
    entries: z.array(entry),
  })
  .meta({ id: 'ImportReport' });

const json = <S>(schema: S) => ({ 'application/json': { schema } });

export function importRoutes(importer: Importer): RouteSpec[] {
  let running = false;
  return [
    {
      method: 'post',
      path: `${API_BASE}/import`,
      operation: {
        tags: ['adoption'],
        security: [{ bearer: [] }],
        operationId: 'importField',
        summary: 'Adopt the prefixes already in the field (NetBox, FreeRADIUS, a file); a dry run unless `dry_run=false`',
        description:
          'Joins the sources into one plan, an entry per prefix with every conflict named (docs/adoption.md). Applying adopts each clean entry: ' +
          'IPAM marks the prefix as ours and the lifecycle is stored straight in `allocated`, `active` or `suspended` with an `IMPORTED` event; ' +
          'nothing is written to RADIUS or a CPE. A second run adopts nothing new; a run after a killed one finishes it. One import at a time.',
        requestParams: { query: importQuery, header: z.object({ 'Idempotency-Key': idempotencyKey.optional() }) },
        requestBody: { required: true, content: json(importBody) },
        responses: {
          '200': { description: 'The plan (dry run) or what was applied', content: { ...json(importReport), 'text/csv': { schema: z.string() } } },
          ...errorResponses(...API_ERRORS, 404, 413, 415, 422, 502, 504),
          '409': { description: '`job_running`: another import is running; nothing was started', content: json(errorResponse) },
        },
      },
      handler: async (ctx) => {
        const { dry_run, format } = parseInput(importQuery, { ...ctx.query }, 'query');
        // The body's JSON parse (http/body.ts) and its validation were one turn of the loop (17–38 and
        // 17–33 ms of a 4.7 MB body, issue 10). A timer, not setImmediate: the parse ends in the poll
        // phase, and an immediate runs before the loop reaches its timers again: still one stall.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const body = await parseInputInSlices(importBody, ctx.request.body ?? {}, {
          path: ['sources', 'file', 'records'],
          item: fileRecord,
          maxItems: MAX_RECORDS,
          slice: RECORD_SLICE,
        });
        if (running) throw new ApiError('job_running', 'an import is running already', { field: 'import' });
        running = true;
        try {
          const report = await importer({ sources: body.sources, options: body.options, dryRun: dry_run !== 'false' });
          if (format === 'csv') {
            ctx.type = 'text/csv; charset=utf-8';
            ctx.body = toCsv(report);
          } else if (keyedRequest(ctx)) {
            ctx.body = report; // http/idempotency.ts stores the object it answers with.
          } else {
            ctx.type = 'application/json; charset=utf-8';
            ctx.body = Readable.from(jsonInSlices(report));
          }
        } finally {
          running = false;
        }
      },
    },
  ];
}
