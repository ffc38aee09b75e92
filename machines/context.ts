import type { Allocation, AllocationAttempt, CpeResult, Failure, HeldPrefix, IpamKind, LifecycleContext, PendingStep, StepId } from './types.ts';

export const now = () => new Date().toISOString();

/** Public name of a step, as `failure.step` shows it: IPAM steps are named after the IPAM they talk to. */
export function publicStep(step: StepId, ctx: Pick<LifecycleContext, 'ipam' | 'held' | 'retired' | 'nextRequest'>): string {
  if (step === 'allocate') return `${ctx.ipam}_allocate`;
  if (step === 'update_allocate') return `${ctx.nextRequest?.ipam ?? ctx.ipam}_allocate`;
  if (step === 'update_release') return `${ctx.retired?.ipam ?? ctx.ipam}_release`;
  if (step === 'revoke_release') return `${ctx.held?.ipam ?? ctx.ipam}_release`;
  if (step === 'activate_radius' || step === 'reactivate_radius' || step === 'update_radius') return 'radius_write_reply';
  if (step === 'suspend_radius' || step === 'revoke_radius') return 'radius_remove_reply';
  if (step.endsWith('_sessions')) return 'radius_sessions';
  if (step === 'activate_cpe' || step === 'update_cpe') return 'cpe_configure_pd';
  if (step === 'revoke_cpe') return 'cpe_remove_ipv6';
  return step;
}

export function failureFrom(error: unknown, step: StepId, ctx: LifecycleContext): Failure {
  const e = (error ?? {}) as { code?: unknown; message?: unknown; attempts?: unknown };
  return {
    step: publicStep(step, ctx),
    code: typeof e.code === 'string' ? e.code : 'internal',
    message: typeof e.message === 'string' ? e.message : String(error),
    attempts: typeof e.attempts === 'number' ? e.attempts : 1,
    at: now(),
  };
}

export function withPending(pending: PendingStep[], step: PendingStep['step'], result: CpeResult, generation: number): PendingStep[] {
  // A newer CPE command supersedes any older one still queued for that CPE.
  const rest = pending.filter((p) => !p.step.startsWith('cpe_'));
  if (result.status === 'done') return rest;
  return [...rest, { step, generation, attempts: 1, next_attempt_at: null, task_id: result.taskId }];
}

export function held(a: Allocation, attempt: AllocationAttempt): HeldPrefix {
  return { ...a, pool: attempt.pool, generation: attempt.generation, ipam: attempt.ipam };
}

/** Codes that say for certain that IPAM allocated nothing. */
const DEFINITIVE = new Set(['pool_exhausted', 'not_found', 'validation_error', 'idempotency_mismatch', 'upstream_rejected']);

/** An allocate step that failed without a definitive answer may have allocated: remember the attempt. */
export function isUnknownOutcome(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'string' && DEFINITIVE.has(code));
}

export function withAttempt(list: AllocationAttempt[], attempt: AllocationAttempt): AllocationAttempt[] {
  return [...list.filter((a) => a.generation !== attempt.generation), attempt];
}

export function withoutAttempt(list: AllocationAttempt[], generation: number): AllocationAttempt[] {
  return list.filter((a) => a.generation !== generation);
}

/** The allocation the first `pending` step makes. */
export function firstAttempt(ctx: Pick<LifecycleContext, 'pool' | 'prefixLength' | 'generation' | 'ipam'>): AllocationAttempt {
  return { pool: ctx.pool, prefixLength: ctx.prefixLength, generation: ctx.generation, ipam: ctx.ipam };
}

/** The allocation an UPDATE makes. */
export function updateAttempt(ctx: LifecycleContext): AllocationAttempt {
  const r = ctx.nextRequest!;
  return { pool: r.pool, prefixLength: r.prefixLength, generation: ctx.generation, ipam: r.ipam as IpamKind };
}

/** Everything the lifecycle still holds in IPAM: the current prefix and any half-done update's. */
export function allHeld(ctx: LifecycleContext): HeldPrefix[] {
  return [ctx.held, ctx.next, ctx.retired].filter((p): p is HeldPrefix => p !== null);
}
