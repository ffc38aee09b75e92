/** The service's error codes; the HTTP funnel maps each to a status. */
export type ErrorCode =
  | 'validation_error'
  | 'unauthorized'
  | 'not_found'
  | 'invalid_transition'
  | 'pool_exhausted'
  | 'username_in_use'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'idempotency_mismatch'
  | 'unavailable'
  | 'upstream_unavailable'
  | 'upstream_rejected'
  /** NetBox has retired (deprecated) the legacy prefix to adopt: only the import's apply meets it, in `applied.failed`. */
  | 'netbox_deprecated'
  | 'timeout'
  | 'internal';

/** A typed error every port throws: `retryable` decides whether the step runner tries again. */
export class ServiceError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly field: string | null;
  /** The peer's own wait before the next attempt (a Retry-After); the step runner waits at least this. */
  readonly retryAfterMs: number | null;
  /**
   * What the peer said (an excerpt of its body, secrets redacted): for the warn log only. The message
   * names the peer and the status and reaches API answers; a peer's body may carry its internals.
   */
  readonly detail: string | null;
  /** Set by the step runner when it gives up. */
  attempts = 1;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { retryable?: boolean; field?: string | null; retryAfterMs?: number | null; detail?: string | null; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ServiceError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.field = opts.field ?? null;
    this.retryAfterMs = opts.retryAfterMs ?? null;
    this.detail = opts.detail ?? null;
  }
}


/**
 * An operation whose lifecycle failed for good: a peer refused the step (or its input), so POST
 * /retry meets the same refusal until its cause is fixed. Answered 409, not 502: the lifecycle is
 * now `failed`, and clients repeat a 5xx on their own.
 */
export class FailedForGood extends ServiceError {
  constructor(message: string) {
    super('upstream_rejected', message);
    this.name = 'FailedForGood';
  }
}

/**
 * An operation whose lifecycle failed on an internal error (a bug, an exception no port maps): a
 * 500 whose message names the step and the way out, never the exception (the log has it).
 */
export class FailedInternally extends ServiceError {
  constructor(message: string) {
    super('internal', message);
    this.name = 'FailedInternally';
  }
}

/** What a lifecycle (and so the API) shows of an internal error in a step: the step, never the bug's text (paths, SQL), which the log has. */
export const internalMessage = (step: string): string => `internal error in ${step}; see the service log`;
