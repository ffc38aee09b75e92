import { allOwned, firstAttempt, givingBack, updateAttempt } from './context.ts';
import { stepKey } from './steps.ts';
import type { AllocateInput, CpeInput, LifecycleContext, OwnedPrefix, RadiusReplyInput, ReleaseInput, SessionPurpose, SessionsInput, StepId } from './types.ts';

// The input of each invoked step, computed from the context. The keys in them are the steps'
// idempotency keys: a step re-run after a restart sends exactly what the first run sent.

type From = { context: LifecycleContext };

const allocation = (c: LifecycleContext, a: ReturnType<typeof firstAttempt>): AllocateInput => ({
  key: a.key,
  lifecycleId: c.lifecycleId,
  subscriberId: c.subscriberId,
  pool: a.pool,
  prefixLength: a.prefixLength,
  generation: a.generation,
});

export const firstAllocation = ({ context }: From) => allocation(context, firstAttempt(context));
export const updateAllocation = ({ context }: From) => allocation(context, updateAttempt(context));

export const currentReply = ({ context }: From): RadiusReplyInput => ({ username: context.username, prefix: context.current });
export const nextReply = ({ context }: From): RadiusReplyInput => ({ username: context.username, prefix: context.next });

// Suspension and revocation withdraw the prefix: a CoA-Request carrying Delegated-IPv6-Prefix would
// tell the NAS to go on delegating it (RFC 5176 §3.1: a CoA carries the attributes the session keeps).
const withdraws = (purpose: SessionPurpose) => purpose === 'suspend' || purpose === 'revoke';

export const sessions =
  (purpose: SessionPurpose, which: 'current' | 'next' = 'current') =>
  ({ context }: From): SessionsInput => ({ username: context.username, purpose, prefix: withdraws(purpose) ? null : (context[which]?.prefix ?? null) });

/** A CPE command for the step's key; `which` prefix it delegates (null: the command removes PD). */
export const cpe =
  (step: StepId, which: 'current' | 'next') =>
  ({ context }: From): CpeInput => ({
    key: stepKey(context.lifecycleId, step, context.generation),
    cpeId: context.cpeId,
    prefix: context[which]?.prefix ?? null,
  });

const release = (c: LifecycleContext, prefixes: OwnedPrefix[], unconfirmed: boolean, free: boolean): ReleaseInput => ({
  lifecycleId: c.lifecycleId,
  subscriberId: c.subscriberId,
  prefixes,
  unconfirmed: unconfirmed ? c.unconfirmed : [],
  free,
});

// An update's retired prefix and a rollback's new prefix are free at once: RADIUS and the sessions
// already moved off them (the CPE is done or a pending step that no longer delegates them).
/** After an update's commit: the old prefix. */
export const retiredRelease = ({ context }: From) => release(context, context.retired ? [context.retired] : [], false, true);
/** An update's rollback: the new prefix and every allocation whose answer was lost. */
export const nextRelease = ({ context }: From) => release(context, context.next ? [context.next] : [], true, true);
/** Revocation gives back everything IPAM may hold for the lifecycle, quarantined until the revocation ends. */
export const everythingRelease = ({ context }: From) => {
  const input = release(context, allOwned(context), true, false);
  return { ...input, unconfirmed: [...input.unconfirmed, ...givingBack(context).flatMap((r) => r.unconfirmed)] };
};
/** The revocation's last step: what its release quarantined becomes reusable (after the pool's hold-down). */
export const everythingFree = ({ context }: From) => release(context, allOwned(context), false, true);
