// The rules of the lifecycle operations that need no state: which event a verb sends, what length
// a pool gives, and how a refusal or a failure reads.
import type { LifecycleEvent } from '../machines/types.ts';
import { FailedForGood, FailedInternally, ServiceError } from '../services/errors.ts';
import type { PoolSpec } from './operation-types.ts';
import { publicState, type LifecycleSnapshot } from './projection.ts';

export type Verb = 'activate' | 'suspend' | 'reactivate' | 'update' | 'revoke' | 'retry';

/** The audit type of the event each verb sends. */
export const EVENT_OF: Record<Verb, LifecycleEvent['type']> = {
  activate: 'ACTIVATE',
  suspend: 'SUSPEND',
  reactivate: 'REACTIVATE',
  update: 'UPDATE',
  revoke: 'REVOKE',
  retry: 'RETRY',
};

/** The length a request asks of a pool, or its default: longer than the parent, at most `pool.longest` (64). */
export function lengthFor(pool: PoolSpec, requested: number | undefined): number {
  const parentLength = Number(pool.prefix.split('/')[1]);
  const length = requested ?? pool.prefix_length;
  const longest = pool.longest ?? 64;
  if (!Number.isInteger(length) || length <= parentLength || length > longest) {
    // Refused here, holding nothing: a /64 under first64 would otherwise fail its activate for good.
    const why = longest < 64 ? ' (radius.reply.framed_prefix first64 writes the first /64 of the delegation as the WAN prefix)' : '';
    throw new ServiceError('validation_error', `prefix_length must be an integer in ${parentLength + 1}..${longest} for pool ${pool.name}${why}`, {
      field: 'prefix_length',
    });
  }
  return length;
}

// What a later attempt may not meet again: a peer down or slow, the store busy. Any other code is a
// refusal (machines/steps.ts DEFINITIVE and the ports' 4xx), which the same step meets every time.
const TRANSIENT: ReadonlySet<string> = new Set(['upstream_unavailable', 'timeout', 'unavailable']);

/**
 * A settled `failed` lifecycle answers with its failure; the lifecycle stays readable and retryable.
 * A transient one is a 502 that POST /retry resumes; a refusal names its code and is a 409 that
 * says what a retry would meet. The code is API.md's `failure.code`, the step its `failure.step`.
 */
export function throwIfFailed(verb: Verb | 'allocate', snapshot: LifecycleSnapshot): void {
  const f = snapshot.context.failure;
  if (publicState(snapshot) !== 'failed' || !f) return;
  const where = updateLeft(snapshot);
  // The exception itself stays in the log ("step gave up"): the failure's message may quote it.
  if (f.code === 'internal') {
    throw new FailedInternally(`${verb} failed at ${f.step} after ${f.attempts} attempt(s) on an internal error (logged as "step gave up")${where}; POST /retry resumes it`);
  }
  if (TRANSIENT.has(f.code)) {
    throw new ServiceError('upstream_unavailable', `${verb} failed at ${f.step} after ${f.attempts} attempt(s): ${f.message}${where}; POST /retry resumes it`);
  }
  // REVOKE from `failed` starts the revocation over, so a failed revocation step would fail it again.
  const revoking = snapshot.context.failedAt?.startsWith('revoke_') ?? false;
  const instead = revoking ? '' : '; POST /revoke ends the lifecycle instead';
  throw new FailedForGood(
    `${verb} failed for good at ${f.step} (${f.code}) after ${f.attempts} attempt(s): ${f.message}${where}; POST /retry repeats the step and gets the same answer until its cause is fixed${instead}`,
  );
}

/**
 * Where a failed update left the subscriber. Its IPAM releases read alike, but the rollback's
 * (RADIUS and the CPE are back on the old prefix) and the one after the switch (on the new prefix,
 * the old one still held) are opposite outcomes; a rollback stopped before its last step may still
 * have RADIUS hand out the new prefix. A client must know which.
 */
function updateLeft(snapshot: LifecycleSnapshot): string {
  const c = snapshot.context;
  const why = c.lastError ? ` at ${c.lastError.step} (${c.lastError.code}): ${c.lastError.message}` : '';
  if (c.failedAt === 'rollback_release') return `; the update was rolled back${why}, and the subscriber keeps ${c.current?.prefix}`;
  if (c.failedAt?.startsWith('rollback_')) {
    const held = c.next ? `, RADIUS may still hand out ${c.next.prefix}` : '';
    return `; the update was being rolled back${why} to ${c.current?.prefix} and is not finished${held}`;
  }
  if (c.failedAt === 'update_release') return `; the subscriber is on ${c.current?.prefix}, its old prefix ${c.retired?.prefix} is not released yet`;
  return '';
}

/**
 * The code of an update rolled back by the failure of a step (the subscriber keeps its prefix): the
 * pool's own refusals as they are, a peer down or slow `upstream_unavailable` (sending it again may
 * do), any other refusal `upstream_rejected` (it would meet the same).
 */
export function rollbackCode(code: string): 'pool_exhausted' | 'not_found' | 'upstream_unavailable' | 'upstream_rejected' {
  if (code === 'pool_exhausted' || code === 'not_found') return code;
  return code === 'internal' || TRANSIENT.has(code) ? 'upstream_unavailable' : 'upstream_rejected';
}

export function invalidTransition(verb: Verb, state: string, suffix = ''): ServiceError {
  return new ServiceError('invalid_transition', `cannot ${verb} a prefix in state ${state}${suffix}`);
}

/**
 * Of an update rolled back while IPAM did not answer: the new block (if IPAM made one) is not given
 * back yet; a pending step gives it back once IPAM answers again (runtime/pending-worker.ts).
 */
export function givenBackLater(c: LifecycleSnapshot['context']): string {
  const p = c.pending.find((x) => x.release && x.generation === c.generation);
  if (!p) return '';
  const blocks = p.release!.prefixes.filter((x) => x.generation === c.generation).map((x) => x.prefix);
  const what = blocks.length > 0 ? `its new prefix ${blocks.join(', ')} is` : 'any block IPAM made for it is';
  return `; ${what} given back by the pending step ${p.step} once IPAM answers`;
}
