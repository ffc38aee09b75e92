// The rules of the lifecycle operations that need no state: which event a verb sends, what length
// a pool gives, and how a refusal or a failure reads.
import type { LifecycleEvent } from '../machines/types.ts';
import { ServiceError } from '../services/errors.ts';
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

/** A settled `failed` lifecycle answers with its failure; the lifecycle stays readable and retryable. */
export function throwIfFailed(verb: Verb | 'allocate', snapshot: LifecycleSnapshot): void {
  const f = snapshot.context.failure;
  if (publicState(snapshot) !== 'failed' || !f) return;
  const code = f.code === 'upstream_rejected' || f.code === 'internal' ? f.code : 'upstream_unavailable';
  throw new ServiceError(code, `${verb} failed at ${f.step} after ${f.attempts} attempt(s): ${f.message}; POST /retry resumes it`);
}

export function invalidTransition(verb: Verb, state: string, suffix = ''): ServiceError {
  return new ServiceError('invalid_transition', `cannot ${verb} a prefix in state ${state}${suffix}`);
}
