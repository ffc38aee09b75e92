// How a NAK becomes an error, shared by the real client and the fake so both classify alike.
import { ServiceError } from '../errors.ts';
import type { SessionOutcome } from './port.ts';

/** RFC 5176 §3.6 "Session-Context-Not-Found": the session is already gone, which is what we wanted. */
export const SESSION_CONTEXT_NOT_FOUND = 503;

/**
 * RFC 5176 §3.6 causes that say the NAS will not do this at all, however often it is asked: 405
 * Unsupported-Service (no CoA, say), 406 Unsupported-Extension (no dynamic authorization), 501
 * Administratively-Prohibited (its policy for the session). A NAS without CoA support degrades
 * gracefully: a CoA is sent again as a Disconnect-Request, and a refused Disconnect is a warning.
 */
export const UNSUPPORTED_CAUSES: ReadonlySet<number> = new Set([405, 406, 501]);

/**
 * A CoA NAKed with one of these is sent again as a Disconnect-Request: the unsupported causes, and
 * 401 Unsupported-Attribute / 407 Invalid-Attribute-Value, what a NAS that cannot take
 * Delegated-IPv6-Prefix (or Framed-IPv6-Prefix) in a CoA answers. The session then re-authenticates
 * and reads the new `radreply`. A Disconnect so NAKed names the session wrongly: an error, as before.
 */
export const coaFallsBack = (cause: number | null): boolean => cause !== null && (UNSUPPORTED_CAUSES.has(cause) || cause === 401 || cause === 407);

/** A NAK other than 503 (or a NAS without a secret): carries every outcome so the ones that succeeded can still be audited. */
export class DynamicAuthorizationError extends ServiceError {
  constructor(
    cause: ServiceError,
    message: string,
    retryable: boolean,
    readonly outcomes: SessionOutcome[],
  ) {
    super(cause.code, message, { retryable });
    this.name = 'DynamicAuthorizationError';
  }
}

/** The error for one NAK; 4xx causes are errors in the request (repeating cannot help), 5xx are NAS conditions. */
export function nakError(nas: string, answer: string, sessionId: string, errorCause: number | null, causeName: string | null): ServiceError {
  const named = causeName ? ` (${causeName})` : '';
  const message = `NAS ${nas} answered ${answer} for session ${sessionId}: Error-Cause ${errorCause ?? 'absent'}${named}`;
  const retryable = errorCause !== null && errorCause >= 500 && errorCause < 600;
  return new ServiceError('upstream_rejected', message, { retryable });
}

/** One error for all failed sessions: a non-retryable failure decides, since retrying cannot fix it. */
export function combineFailures(failures: ServiceError[], outcomes: SessionOutcome[]): DynamicAuthorizationError {
  const decisive = failures.find((f) => !f.retryable) ?? failures[0]!;
  return new DynamicAuthorizationError(decisive, failures.map((f) => f.message).join('; '), decisive.retryable, outcomes);
}
