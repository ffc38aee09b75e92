// The one place where an error becomes an answer: every route, middleware and the router throw, and
// this funnel writes `{"error": {code, message, field}}` with the status `../shared/API.md` gives.
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { FailedForGood, FailedInternally, ServiceError, type ErrorCode } from '../services/errors.ts';
import { databaseUnavailable } from '../store/unavailable.ts';
import type { ApiErrorCode, ErrorBody } from './schemas.ts';

/** An error raised by the HTTP layer itself (auth, routing, body parsing), with headers to send. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly field: string | null;
  readonly headers: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, opts: { field?: string | null; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.field = opts.field ?? null;
    this.headers = opts.headers ?? {};
  }
}

export const STATUS: Record<ApiErrorCode, number> = {
  validation_error: 400,
  unauthorized: 401,
  not_found: 404,
  method_not_allowed: 405,
  invalid_transition: 409,
  pool_exhausted: 409,
  username_in_use: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  uri_too_long: 414,
  headers_too_large: 431,
  request_timeout: 408,
  idempotency_mismatch: 422,
  internal: 500,
  upstream_unavailable: 502,
  upstream_rejected: 502,
  unavailable: 503,
  timeout: 504,
  job_running: 409,
};

// Messages of these codes are written by our own ports ("NetBox answered 503 after 6 attempts") and
// tell the caller what to do; `internal` wraps arbitrary exceptions and is never shown.
const SAFE_5XX: ReadonlySet<ApiErrorCode> = new Set(['upstream_unavailable', 'upstream_rejected', 'timeout', 'unavailable']);

// API.md's codes are the answer's: a code only a port's caller tells apart is answered as the API
// code it is a case of. NetBox retired the prefix: a peer refusing the write.
const apiCode = (code: ErrorCode): ApiErrorCode => (code === 'netbox_deprecated' ? 'upstream_rejected' : code);

const GENERIC_500 = 'internal error; the request id identifies it in the service log';

export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** Maps anything thrown to the answer the client gets. Pure: logging is the caller's. */
export function toErrorAnswer(err: unknown): ErrorAnswer {
  const answer = (code: ApiErrorCode, message: string, field: string | null = null, headers: Record<string, string> = {}): ErrorAnswer => ({
    status: STATUS[code],
    body: { error: { code, message, field } },
    headers,
  });
  if (err instanceof ApiError) return answer(err.code, err.message, err.field, err.headers);
  // The store cannot take the write now (locked elsewhere, full, read-only): try again, not a bug to report.
  const retryAfter = (ms: number | null) => ({ 'Retry-After': String(Math.max(1, Math.ceil((ms ?? 1000) / 1000))) });
  if (err instanceof ServiceError && err.code === 'unavailable') return answer('unavailable', err.message, err.field, retryAfter(err.retryAfterMs));
  const unavailable = databaseUnavailable(err);
  if (unavailable) return answer('unavailable', unavailable, null, retryAfter(null));
  // A lifecycle failed for good: its state conflicts with the operation; no 5xx a client would repeat.
  if (err instanceof FailedForGood) return { ...answer(apiCode(err.code), err.message, err.field), status: 409 };
  // Its message is ours alone (the step, the way out), written for the client.
  if (err instanceof FailedInternally) return answer('internal', err.message);
  if (err instanceof ServiceError) {
    const code = apiCode(err.code);
    if (STATUS[code] >= 500 && !SAFE_5XX.has(code)) return answer('internal', GENERIC_500);
    return answer(code, err.message, err.field);
  }
  return answer('internal', GENERIC_500);
}

/** Writes the error answer on `ctx` and logs it; a 5xx is logged with everything the client is not told. */
export function respondWithError(ctx: Context, err: unknown): void {
  const a = toErrorAnswer(err);
  const log = (ctx.state as { log?: Logger }).log;
  // A peer's failure is not ours: warn with its message, no stack; an internal error keeps everything.
  if (a.status >= 500 && a.body.error.code === 'internal') log?.error({ err, code: a.body.error.code }, 'request failed');
  else if (a.status >= 500) log?.warn({ code: a.body.error.code, message: a.body.error.message }, 'request failed upstream');
  else log?.debug({ code: a.body.error.code, field: a.body.error.field }, a.body.error.message);
  // Headers a handler set before it failed (a Location, say) do not describe this answer.
  ctx.remove('Location');
  ctx.set(a.headers);
  ctx.status = a.status;
  ctx.body = a.body;
}

/** The outermost error middleware; also gives "no route" (404) and "wrong method" (405) the same shape. */
export function errorFunnel(): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.body != null) return;
      if (ctx.status === 404) throw new ApiError('not_found', `no route ${ctx.method} ${ctx.path}`);
      // The router's allowedMethods() leaves these bodiless with an Allow header, which stays.
      if (ctx.status === 405 || ctx.status === 501) throw new ApiError('method_not_allowed', `${ctx.method} is not allowed on ${ctx.path}`);
    } catch (err) {
      respondWithError(ctx, err);
    }
  };
}
