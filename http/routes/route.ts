import type { RouterContext } from '@koa/router';
import type { ZodOpenApiOperationObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import type { AppState } from '../request-context.ts';
import { errorResponse } from '../schemas.ts';

export const API_BASE = '/api/v1/network/ipv6';

export type RouteContext = RouterContext<AppState>;

/**
 * One route: the router serves `handler` at `path`, and `openapi.ts` documents `operation` there.
 * Both come from this one object, so a route cannot be served undocumented or documented unserved.
 */
export interface RouteSpec {
  method: 'get' | 'post';
  /** OpenAPI path template, e.g. `/api/v1/network/ipv6/lifecycle/{subscriber_id}`. */
  path: string;
  operation: ZodOpenApiOperationObject;
  handler: (ctx: RouteContext) => Promise<void> | void;
}

/** Where a client polls a lifecycle that answered 202. */
export const lifecycleLocation = (subscriberId: string) => `${API_BASE}/lifecycle/${pathSegment(subscriberId)}`;

// encodeURIComponent leaves "." alone, and a client resolving the Location removes the segments "."
// and ".." (RFC 3986 §5.2.4): `lifecycle/.` is the list. Spelt %2E, curl and Python send them on,
// and the router decodes them back. Clients of the URL Standard (fetch, browsers) read %2E as a dot
// as well, which is why allocate refuses such ids (http/schemas.ts).
const pathSegment = (text: string) => (text === '.' ? '%2E' : text === '..' ? '%2E%2E' : encodeURIComponent(text));

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: '`validation_error`: malformed JSON or percent-encoding, a body that is not UTF-8, a missing, ill-typed, unknown or repeated field or query parameter, or a repeated Authorization, Content-Type or Idempotency-Key header (`field` names it)',
  401: '`unauthorized`: missing or wrong bearer token',
  404: '`not_found`: unknown subscriber or pool',
  405: '`method_not_allowed`: the path takes another method (`Allow` lists it)',
  409: '`invalid_transition` (not allowed from the current state; nothing changed), `pool_exhausted` (allocate, update), `username_in_use` (activate: another live lifecycle has the username) or `upstream_rejected` (an operation whose lifecycle failed for good: an outside system refused a step, or its input; the lifecycle is `failed`, the message names the step and the `failure.code`, and `POST /retry` meets the same refusal until its cause is fixed)',
  413: '`payload_too_large`: body over the configured limit',
  414: '`uri_too_long`: a URL over 8 KiB',
  415: '`unsupported_media_type`: a body that is not application/json, or that names a charset other than UTF-8',
  422: '`idempotency_mismatch`: an Idempotency-Key reused with a different request (body, or query parameters but `wait`)',
  431: '`headers_too_large`: request line and headers over 16 KiB',
  500: '`internal`: details are in the service log under the X-Request-Id; for an operation whose lifecycle is `failed` on an internal error (`failure.code` `internal`), the message names the step and that `POST /retry` resumes it, and the details are the "step gave up" log line (never the exception)',
  502: '`upstream_unavailable`: an outside system failed after its retries (for an operation the lifecycle is `failed` and `POST /retry` resumes it; an update rolled back, "update rolled back at …", keeps the subscriber `active` on its old prefix and may be sent again); `upstream_rejected`: an outside system refused a read, an import or a job, or refused an update\'s step and the update was rolled back (sent again, it meets the same refusal); an operation whose lifecycle failed for good is a 409',
  503: '`unavailable`: start-up recovery is still running, the service is stopping, the database does not take writes or cannot be reached now, or (without an Idempotency-Key) the operation could not start within `?wait=` behind the subscriber’s earlier one and will not run (Retry-After says when to send it again)',
  504: '`timeout`: an outside system did not answer in time',
};

/** The error answers of an operation, each with the error schema. */
export function errorResponses(...statuses: number[]): ZodOpenApiResponsesObject {
  return Object.fromEntries(
    statuses.map((s) => [String(s), { description: ERROR_DESCRIPTIONS[s] ?? 'error', content: { 'application/json': { schema: errorResponse } } }]),
  );
}

/** Statuses every route under `/api/` can answer. */
export const API_ERRORS = [400, 401, 405, 414, 431, 500, 503] as const;
