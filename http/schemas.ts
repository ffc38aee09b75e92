// The zod schemas that validate every request and describe every response; `openapi.ts` renders
// the same objects, so the document cannot drift from what the routes accept. The lifecycle
// resource is the runtime's (`runtime/resource.ts`), re-exported here with the other responses.
import { z } from 'zod';
import 'zod-openapi';
import type { Config } from '../config.ts';
import { LIFECYCLE_STATES } from '../machines/types.ts';
import { lifecycleResource, timestamp } from '../runtime/resource.ts';
import { DISCREPANCY_KINDS } from '../runtime/reconcile-checks.ts';
import { cpeIdName, newSubscriberIdName, subscriberIdName, usernameName } from '../services/names.ts';

/** Error codes an answer can carry: the service's, plus 405, 408, 414 and 431, which only the HTTP layer raises. */
export const ERROR_CODES = [
  'validation_error',
  'unauthorized',
  'not_found',
  'method_not_allowed',
  'invalid_transition',
  'pool_exhausted',
  'username_in_use',
  'payload_too_large',
  'unsupported_media_type',
  'uri_too_long',
  'headers_too_large',
  'request_timeout',
  'idempotency_mismatch',
  'unavailable',
  'upstream_unavailable',
  'upstream_rejected',
  'timeout',
  'internal',
  'job_running',
] as const;
export type ApiErrorCode = (typeof ERROR_CODES)[number];

export const subscriberId = subscriberIdName.meta({ description: 'The subscriber, as the orchestration system names it', example: 'sub-42' });
// `not` says what the refinement refuses, so a client checking against the document meets no surprise 400.
const newSubscriberId = newSubscriberIdName.meta({ description: 'The subscriber, as the orchestration system names it; not "." or ".."', example: 'sub-42', not: { enum: ['.', '..'] } });
const username = usernameName.meta({ description: 'RADIUS User-Name of the subscriber, as FreeRADIUS\'s rlm_sql looks it up: with RADIUS configured, one holding a character outside its safe_characters is 400 naming the escaped form to give (`joe=2Btag@isp` for joe+tag@isp)', example: 'alice@example.net' });
const cpeId = cpeIdName.meta({ description: 'GenieACS device id; omit or null when the subscriber has no managed CPE', example: '00D09E-HG8245-0123456' });

const reason = z.string().max(500).regex(/^[^\x00-\x1f\x7f-\x9f]*$/, 'must not contain control characters').meta({ description: 'Free text kept in the audit trail' });
const pool = z.string().min(1).max(63).meta({ description: 'Pool name; defaults from configuration', example: 'residential' });
const prefixLength = z
  .int()
  .min(1)
  .max(64)
  .meta({ description: 'Length of the delegated prefix; defaults to the pool’s; must be longer than the pool and at most 64 (63 with radius.reply.framed_prefix first64)', example: 56 });

export const allocateBody = z.strictObject({ subscriber_id: newSubscriberId, pool: pool.optional(), prefix_length: prefixLength.optional() });
export const activateBody = z.strictObject({ subscriber_id: subscriberId, username, cpe_id: cpeId.nullable().optional() });
export const suspendBody = z.strictObject({ subscriber_id: subscriberId, reason: reason.nullable().optional() });
export const reactivateBody = z.strictObject({ subscriber_id: subscriberId });
export const revokeBody = z.strictObject({ subscriber_id: subscriberId, reason: reason.nullable().optional() });
export const updateBody = z.strictObject({ subscriber_id: subscriberId, prefix_length: prefixLength.optional(), pool: pool.optional() });
export const retryBody = z.strictObject({ subscriber_id: subscriberId });

/** A decimal integer in the query string, shown as an integer in the document. */
function queryInt(min: number, max: number, fallback: number, description: string) {
  return z
    .string()
    .regex(/^\d+$/, 'must be a non-negative decimal integer')
    // Past 15 digits (leading zeros aside) a Number is no longer exact: any such value is past the maximum.
    .transform((v) => (v.replace(/^0+(?=\d)/, '').length > 15 ? Number.MAX_SAFE_INTEGER : Number(v)))
    .pipe(z.int().min(min).max(max))
    .optional()
    .meta({
      description,
      override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
        for (const k of Object.keys(jsonSchema)) delete jsonSchema[k];
        Object.assign(jsonSchema, { type: 'integer', minimum: min, maximum: max, default: fallback });
      },
    });
}

export const LIST_DEFAULT_LIMIT = 100;

// Query strings are strict too: a misspelt `?wiat=0` would otherwise wait the full default silently.
export function operationQuery(api: Config['api']) {
  return z.strictObject({
    wait: queryInt(0, api.max_wait_ms, api.default_wait_ms, 'How long to wait (ms) for the lifecycle to settle before answering 202'),
  });
}

/** A list parameter whose empty value means it is absent (API.md's `?state=&pool=&limit=&cursor=`, filled in by a script). */
const emptyIsAbsent = <T extends z.ZodType>(schema: T): T => schema.meta({ ...schema.meta(), param: { allowEmptyValue: true } }) as T;

export const listQuery = z.strictObject({
  state: emptyIsAbsent(z.enum(LIFECYCLE_STATES).optional().meta({ description: 'Only lifecycles in this state; empty: any' })),
  pool: emptyIsAbsent(pool.optional().meta({ description: 'Only lifecycles of this pool; empty: any' })),
  limit: emptyIsAbsent(queryInt(1, 1000, LIST_DEFAULT_LIMIT, 'Page size; empty: the default')),
  order: emptyIsAbsent(z.enum(['desc', 'asc']).optional().meta({ description: 'By creation time: `desc` newest first (the default, also when empty), `asc` oldest first' })),
  cursor: emptyIsAbsent(
    z
      .string()
      .max(1024)
      .regex(/^[A-Za-z0-9_-]+$/, 'must be a next_cursor from an earlier page')
      .optional()
      .meta({ description: 'Opaque: the `next_cursor` of the previous page; empty: the first page' }),
  ),
});

export const subscriberPath = z.strictObject({ subscriber_id: subscriberId });

export { lifecycleResource };

/** The POST operations, as the 202 body names them. */
export const OPERATIONS = ['allocate', 'activate', 'suspend', 'reactivate', 'revoke', 'update', 'retry'] as const;
export type OperationName = (typeof OPERATIONS)[number];

// The lifecycle alone reads `allocated` while an activation runs: a 202 also says what it accepted.
export const lifecycleAccepted = lifecycleResource
  .extend({
    operation: z.enum(OPERATIONS).meta({
      description: 'The operation this request accepted; it goes on (after any earlier one on the subscriber) and polling `Location` shows its outcome',
    }),
  })
  .meta({ id: 'LifecycleAccepted', description: 'A 202: the lifecycle as it is now, and the operation still being carried out' });

export const lifecycleList = z
  .object({ items: z.array(lifecycleResource), next_cursor: z.string().nullable() })
  .meta({ id: 'LifecycleList' });

export const lifecycleEvents = z
  .object({
    events: z.array(
      z.object({
        at: timestamp,
        lifecycle_id: z.string(),
        type: z.string().meta({ example: 'ACTIVATE' }),
        from: z.string().nullable(),
        to: z.string(),
        detail: z.unknown().meta({ description: 'Event payload and step outcome' }),
      }),
    ),
  })
  .meta({ id: 'LifecycleEvents', description: 'The audit trail, oldest first, across every lifecycle of the subscriber' });

export const apiMetricsSummary = z
  .object({
    pools: z.array(
      z.object({
        name: z.string(),
        prefix: z.string(),
        prefix_length: z.int(),
        capacity: z.number().min(0),
        allocated: z.int().min(0),
        held_down: z.int().min(0).meta({ description: 'Of allocated, released prefixes still quarantined or in their hold-down' }),
        utilization_percent: z.number().min(0),
        draining: z.boolean().meta({
          description:
            'A pool removed from the configuration that lifecycles still use: no new allocation (capacity 0, allocated = its live lifecycles, prefix its last configured parent), listed until none is left',
        }),
      }),
    ),
    states: z.record(z.string(), z.int().min(0)).meta({ description: 'Lifecycles per state', example: { active: 10, suspended: 1 } }),
    leaks: z.int().min(0).meta({ description: 'Prefixes IPAM holds for this service that no live lifecycle holds, as of the last leak check (the scheduled one; only the first request of a process waits for a check)' }),
  })
  .meta({ id: 'MetricsSummary' });
/** What `GET /api/v1/network/ipv6/metrics` answers. */
export type ApiMetricsSummary = z.infer<typeof apiMetricsSummary>;

export const errorResponse = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      field: z.string().nullable().meta({ description: 'The offending field (dotted path) or header, when there is one' }),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorResponse>;

export const healthResponse = z.object({ status: z.literal('ok') });
export const readyResponse = z.object({ status: z.literal('ready') });

/** Validated by the idempotency middleware; `field` is the header's name. */
export const idempotencyKey = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces')
  .meta({ description: 'Replaying a request with the same key and body returns the first answer without doing anything again' });

/** `GET /reconciliation`: the kinds (runtime/reconcile-checks.ts) and the page query. */
export const reconciliationQuery = z.strictObject({
  kind: z.enum(DISCREPANCY_KINDS).optional().meta({ description: 'Only differences of this kind' }),
  limit: queryInt(1, 1000, LIST_DEFAULT_LIMIT, 'Page size'),
  // A next_cursor is a row's seq: past 2^53 - 1 Number() rounds it, and the page after a rounded cursor is empty.
  cursor: z
    .string()
    .max(20)
    .regex(/^\d+$/, { message: 'must be a next_cursor from an earlier page', abort: true })
    .refine((v) => Number.isSafeInteger(Number(v)), 'must be a next_cursor from an earlier page')
    .optional()
    .meta({ description: 'Opaque: the `next_cursor` of the previous page' }),
});

export const reconciliationList = z
  .object({
    run: z
      .object({
        started_at: timestamp,
        finished_at: timestamp,
        dry_run: z.boolean(),
        counts: z.record(z.string(), z.int().min(0)).meta({ description: 'Differences by kind, and `repaired` (dry: `would_repair`)' }),
      })
      .nullable()
      .meta({ description: 'The last run (dry or real); null before the first' }),
    items: z.array(
      z.object({
        kind: z.enum(DISCREPANCY_KINDS),
        lifecycle_id: z.string().nullable(),
        subscriber_id: z.string().nullable(),
        username: z.string().nullable(),
        prefix: z.string().nullable(),
        cpe_id: z.string().nullable(),
        action: z.enum(['reported', 'repaired', 'would_repair', 'repair_failed']),
        detail: z.record(z.string(), z.unknown()),
      }),
    ),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'ReconciliationList' });
