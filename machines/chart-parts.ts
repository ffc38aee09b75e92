import { fromPromise } from 'xstate';
import { STEPS } from './steps.ts';
import type { CpeResult, LifecycleContext, PendingStep, Stamped, StepId } from './types.ts';

// The chart's building blocks (prefix-lifecycle.ts): transitions and actions it repeats, and the
// typed stubs of its steps.

export type ErrorEvent = { event: { error: unknown } };
export type DoneEvent<T> = { event: { output: T } };

/** Leaves for `failed`, recording which step failed and why. */
export const failTo = (step: StepId) =>
  ({ target: '#prefixLifecycle.failed', actions: { type: 'fail', params: ({ event }: ErrorEvent) => ({ step, error: event.error }) } }) as const;
/** An update step failed: undo what the update did so far (the saga below). */
export const rollBackFrom = (step: StepId) =>
  ({ target: 'updateRollback', actions: { type: 'failUpdate', params: ({ event }: ErrorEvent) => ({ step, error: event.error }) } }) as const;
/** An update step ran: register its compensation. */
export const register = (step: StepId) => ({ type: 'register', params: { step } }) as const;
export const stamp = (field: 'activatedAt' | 'reactivatedAt' | 'suspendedAt') => ({ type: 'stamp', params: ({ event }: DoneEvent<{ at: string }>) => ({ field, at: event.output.at }) }) as const;
export const queueCpe = (step: PendingStep['step'], from: StepId) =>
  ({ type: 'queueCpe', params: ({ event }: DoneEvent<Stamped<CpeResult>>) => ({ step, from, output: event.output }) }) as const;
export const refused = <T extends 'refused' | 'refusedOutright'>(type: T) => ({ type, params: ({ event }: ErrorEvent) => ({ error: event.error }) }) as const;
export const isRefusal = (error: unknown) => STEPS.allocate.closesOn.includes(String((error as { code?: unknown } | null)?.code));
export const closeRefused = { type: 'closeRefused', params: ({ event }: ErrorEvent) => ({ error: event.error }) } as const;
/** A compensation of the rollback: runs `src`, then the next one down the stack. */
export const undo = (src: 'restoreCpe' | 'writeRadiusReply' | 'notifySessions', step: StepId, inputOf: (a: { context: LifecycleContext }) => unknown) => ({
  tags: 'busy' as const,
  invoke: { src, input: inputOf as never, onDone: { target: 'choose', actions: 'compensated' as const }, onError: failTo(step) },
});

// Typed stubs: the composition root provides the real actors with `.provide()`.
const notProvided = (name: string) => () => Promise.reject(new Error(`actor ${name} not provided`));
export const step = <Out, In>(name: string) => fromPromise<Stamped<Out>, In>(notProvided(name));

