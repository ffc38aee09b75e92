import type { Allocation, CpeResult, Failure, HeldPrefix, LifecycleContext, PendingStep, StepId } from './types.ts';

export const now = () => new Date().toISOString();

/** Public name of a step, as `failure.step` shows it. */
export function publicStep(step: StepId, ctx: Pick<LifecycleContext, 'ipam'>): string {
  if (step === 'allocate' || step === 'update_allocate') return `${ctx.ipam}_allocate`;
  if (step === 'revoke_release' || step === 'update_release') return `${ctx.ipam}_release`;
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

export function withPending(pending: PendingStep[], step: PendingStep['step'], result: CpeResult): PendingStep[] {
  // A newer CPE command supersedes any older one still queued for that CPE.
  const rest = pending.filter((p) => !p.step.startsWith('cpe_'));
  if (result.status === 'done') return rest;
  return [...rest, { step, attempts: 1, next_attempt_at: null, task_id: result.taskId }];
}

export function held(a: Allocation, pool: string, generation: number): HeldPrefix {
  return { ...a, pool, generation };
}

/** Everything the lifecycle still holds in IPAM: the current prefix and any half-done update's. */
export function allHeld(ctx: LifecycleContext): HeldPrefix[] {
  return [ctx.held, ctx.next, ctx.retired].filter((p): p is HeldPrefix => p !== null);
}
