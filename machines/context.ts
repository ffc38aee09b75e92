import { STEPS, isUnknownOutcome, stepKey } from './steps.ts';
import type {
  Allocation,
  AllocationAttempt,
  CpeResult,
  Failure,
  ImportEvent,
  LifecycleContext,
  LifecycleInput,
  OwnedPrefix,
  PendingError,
  PendingStep,
  Stamped,
  StepError,
  StepId,
} from './types.ts';

// What the chart's named actions do to the context: pure functions of the context and the action's
// params, so each action in `setup()` is one line and each rule is readable on its own.

type Ctx = LifecycleContext;
type Patch = Partial<Ctx>;

const INPUT_KEYS = ['lifecycleId', 'subscriberId', 'pool', 'prefixLength', 'ipam'];

export function initialContext(input: LifecycleInput): Ctx {
  // V8 (Node 20) adds each property after a spread on a slow path: `{ ...input, 20 more }` took ~22 µs
  // per call, on every allocation. The input's own fields named one by one build the same object (the
  // same keys in the same order) from one literal; an input with other keys or another order is spread.
  const keys = Object.keys(input);
  if (keys.length !== INPUT_KEYS.length || keys.some((k, i) => k !== INPUT_KEYS[i])) return { ...input, ...defaults() };
  const { lifecycleId, subscriberId, pool, prefixLength, ipam } = input;
  return { lifecycleId, subscriberId, pool, prefixLength, ipam, ...defaults() };
}

/** The fields every lifecycle starts with, besides its input. */
function defaults(): Omit<Ctx, keyof LifecycleInput> {
  return {
    current: null,
    generation: 0,
    unconfirmed: [],
    next: null,
    nextRequest: null,
    retired: null,
    compensations: [],
    username: null,
    cpeId: null,
    allocatedAt: null,
    activatedAt: null,
    reactivatedAt: null,
    suspendedAt: null,
    revokedAt: null,
    failure: null,
    failedAt: null,
    lastError: null,
    pending: [],
    reason: null,
  };
}

/** The failure as the API shows it; the time is the runtime's, carried by the error (the machine has no clock). */
export function failureFrom(error: unknown, step: StepId, ctx: Ctx): Failure {
  const e = (error ?? {}) as Partial<StepError>;
  return {
    step: STEPS[step].publicName(ctx),
    code: typeof e.code === 'string' ? e.code : 'internal',
    message: typeof e.message === 'string' ? e.message : String(error),
    attempts: typeof e.attempts === 'number' ? e.attempts : 1,
    at: typeof e.at === 'string' ? e.at : new Date(0).toISOString(),
  };
}

/** The allocation the first `pending` step makes. */
export function firstAttempt(ctx: Ctx): AllocationAttempt {
  return { key: stepKey(ctx.lifecycleId, 'allocate', ctx.generation), pool: ctx.pool, prefixLength: ctx.prefixLength, generation: ctx.generation, ipam: ctx.ipam };
}

/** The allocation an UPDATE makes. */
export function updateAttempt(ctx: Ctx): AllocationAttempt {
  const r = ctx.nextRequest!;
  return { key: stepKey(ctx.lifecycleId, 'update_allocate', ctx.generation), pool: r.pool, prefixLength: r.prefixLength, generation: ctx.generation, ipam: r.ipam };
}

const owned = (a: Allocation, attempt: AllocationAttempt): OwnedPrefix => ({
  prefix: a.prefix,
  prefixLength: a.prefixLength,
  netboxPrefixId: a.netboxPrefixId,
  pool: attempt.pool,
  generation: attempt.generation,
  ipam: attempt.ipam,
});
const withAttempt = (list: AllocationAttempt[], a: AllocationAttempt) => [...list.filter((x) => x.generation !== a.generation), a];
const withoutAttempt = (list: AllocationAttempt[], generation: number) => list.filter((a) => a.generation !== generation);

/** What pending steps still give back to IPAM: rolled-back updates' blocks (nextReleaseDeferred). */
export const givingBack = (ctx: Ctx) => ctx.pending.flatMap((p) => (p.release ? [p.release] : []));

/** Everything the lifecycle still owns in IPAM: the current prefix, any half-done update's, and what a pending step gives back. */
export function allOwned(ctx: Ctx): OwnedPrefix[] {
  return [ctx.current, ctx.next, ctx.retired, ...givingBack(ctx).flatMap((r) => r.prefixes)].filter((p): p is OwnedPrefix => p !== null);
}

/** The first allocation answered: under that key IPAM holds this prefix (a lost earlier try of the key included). */
export const allocated = (ctx: Ctx, out: Stamped<Allocation>): Patch => ({
  current: owned(out.result, firstAttempt(ctx)),
  unconfirmed: withoutAttempt(ctx.unconfirmed, ctx.generation),
  allocatedAt: out.at,
});

/** A step ran out of retries: the lifecycle waits for RETRY or REVOKE. */
export const failed = (ctx: Ctx, step: StepId, error: unknown): Patch => {
  const allocating = step === 'allocate' && isUnknownOutcome(error);
  return {
    failure: failureFrom(error, step, ctx),
    failedAt: step,
    // An allocation without an answer may have taken a block under its key: remember it, to give it back.
    ...(allocating ? { unconfirmed: withAttempt(ctx.unconfirmed, firstAttempt(ctx)) } : {}),
  };
};

/** IPAM refused the first allocation for certain: nothing is held, so the lifecycle closes and the subscriber may try again. */
export const closedRefused = (ctx: Ctx, error: unknown): Patch => {
  const lastError = failureFrom(error, 'allocate', ctx);
  return { lastError, revokedAt: lastError.at, reason: `allocation refused: ${lastError.code}` };
};

/**
 * A queued CPE command stays pending with its key; a newer one supersedes any older one still queued.
 * Its next attempt is scheduled at once: when the runtime says (its scheduler's backoff), else due now.
 */
export function queuedCpe(ctx: Ctx, step: PendingStep['step'], key: string, out: Stamped<CpeResult>): PendingStep[] {
  const rest = ctx.pending.filter((p) => !p.step.startsWith('cpe_'));
  if (out.result.status === 'done') return rest;
  return [...rest, { step, key, generation: ctx.generation, attempts: 1, next_attempt_at: out.retryAt ?? out.at, task_id: out.result.taskId }];
}

export const pendingResolved = (ctx: Ctx, step: PendingStep['step'], generation?: number): Patch => ({
  pending: ctx.pending.filter((p) => p.step !== step || (generation !== undefined && p.generation !== generation)),
});

/** A pending step tried again in vain: its next attempt, and its error (a CPE merely offline clears it). */
export const pendingDeferred = (ctx: Ctx, step: PendingStep['step'], nextAttemptAt: string, error?: PendingError): Patch => ({
  pending: ctx.pending.map((p) => {
    if (p.step !== step) return p;
    const { last_error: _was, ...rest } = p;
    return { ...rest, attempts: p.attempts + 1, next_attempt_at: nextAttemptAt, ...(error ? { last_error: error } : {}) };
  }),
});

// ── The update saga ──────────────────────────────────────────────────────────────────────────────

/** Every update attempt gets its own generation, so its idempotency keys are its own. */
export const updateStarted = (ctx: Ctx, request: NonNullable<Ctx['nextRequest']>): Patch => ({
  nextRequest: request,
  generation: ctx.generation + 1,
  lastError: null,
  compensations: [],
});

/** A step of the update ran: push what undoes it. */
export const registered = (ctx: Ctx, step: StepId): Patch => ({ compensations: [...ctx.compensations, ...STEPS[step].compensation] });

export const nextAllocated = (ctx: Ctx, out: Stamped<Allocation>): Patch => ({
  next: owned(out.result, updateAttempt(ctx)),
  unconfirmed: withoutAttempt(ctx.unconfirmed, ctx.generation),
  ...registered(ctx, 'update_allocate'),
});

/**
 * An update step failed: the update rolls back. A step without a definitive answer may have had its
 * effect, so its own compensation is pushed too (for the allocation: the attempt's key, to give back).
 */
export function updateFailed(ctx: Ctx, step: StepId, error: unknown): Patch {
  const lastError = failureFrom(error, step, ctx);
  if (!isUnknownOutcome(error)) return { lastError };
  const unconfirmed = step === 'update_allocate' ? withAttempt(ctx.unconfirmed, updateAttempt(ctx)) : ctx.unconfirmed;
  return { lastError, unconfirmed, ...registered(ctx, step) };
}

/** The subscriber now uses the new prefix: commit it; the old one is retired until IPAM has it back. */
export const updateCommitted = (ctx: Ctx, out: Stamped<CpeResult>): Patch => ({
  pending: queuedCpe(ctx, 'cpe_configure_pd', stepKey(ctx.lifecycleId, 'update_cpe', ctx.generation), out),
  retired: ctx.current,
  current: ctx.next,
  pool: ctx.next!.pool,
  prefixLength: ctx.next!.prefixLength,
  ipam: ctx.nextRequest!.ipam,
  next: null,
  nextRequest: null,
  compensations: [],
});

/** One compensation is done: the next one down the stack runs. */
export const compensated = (ctx: Ctx): Patch => ({ compensations: ctx.compensations.slice(0, -1) });

/** The rollback released the new prefix and every allocation whose answer was lost. */
export const nextReleased = (ctx: Ctx): Patch => ({ ...compensated(ctx), next: null, unconfirmed: [] });

/**
 * The rollback could not give the new block back (IPAM down past the retries). RADIUS, the sessions
 * and the CPE are back on the old prefix by now (its compensation is the stack's last), so the update
 * is rolled back all the same: the block, and every attempt whose answer was lost, become a pending
 * step, given back once IPAM answers (runtime/pending-worker.ts). One such step per IPAM: a later
 * rollback's blocks join it, since PENDING_RESOLVED names the step.
 */
export function nextReleaseDeferred(ctx: Ctx, error: unknown): Patch {
  const step = STEPS.rollback_release.publicName(ctx) as PendingStep['step'];
  const was = ctx.pending.find((p) => p.step === step);
  const release = {
    prefixes: [...(was?.release?.prefixes ?? []), ...(ctx.next ? [ctx.next] : [])],
    unconfirmed: [...(was?.release?.unconfirmed ?? []), ...ctx.unconfirmed],
  };
  const key = stepKey(ctx.lifecycleId, 'update_allocate', ctx.generation);
  const entry: PendingStep = { step, key, generation: ctx.generation, attempts: 1, next_attempt_at: failureFrom(error, 'rollback_release', ctx).at, task_id: null, release };
  return { ...nextReleased(ctx), pending: [...ctx.pending.filter((p) => p !== was), entry] };
}

export const rolledBack = (): Patch => ({ next: null, nextRequest: null, compensations: [] });

/**
 * An adopted prefix: owned from now as if generation 0 had allocated it (IPAM holds it under that
 * step's key), with the subscriber's RADIUS username and CPE as the field has them.
 */
export const imported = (e: ImportEvent): Patch => ({
  current: { ...e.prefix, pool: e.pool, generation: 0, ipam: e.ipam },
  pool: e.pool,
  prefixLength: e.prefix.prefixLength,
  ipam: e.ipam,
  username: e.username,
  cpeId: e.cpeId,
  allocatedAt: e.at,
  activatedAt: e.state === 'allocated' ? null : e.at,
  suspendedAt: e.state === 'suspended' ? e.at : null,
});
