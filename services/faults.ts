// The one way the fakes (IPAM, RADIUS, CPE) are made to fail: faults queued per operation, each
// thrown by one call, before the call's effect or after it, as when the answer is lost.
import { ServiceError } from './errors.ts';

/** How the next call(s) of one operation fail. */
export interface FaultOptions {
  /** What is thrown: an error, or a function making a fresh one per call; a retryable `upstream_unavailable` by default. */
  error?: Error | (() => Error);
  /** How many consecutive calls fail (default 1). */
  times?: number;
  /** Fail after the effect took place, as when the answer is lost on the way back (default false). */
  afterEffect?: boolean;
}

/** The faults queued for the operations of one fake. */
export interface Faults<Op extends string> {
  /** Makes the next call (or the next `times` calls) of `op` throw. */
  failNext(op: Op, options?: FaultOptions): void;
  /** Runs one call of `op`: the next queued fault is thrown before `effect` or, with `afterEffect`, after it. */
  run<T>(op: Op, effect: () => T): T;
}

interface Fault {
  error: Error | (() => Error);
  afterEffect: boolean;
}

/** Faults for the fake named `fake` (it names the default error's message). */
export function createFaults<Op extends string>(fake: string): Faults<Op> {
  const queues = new Map<Op, Fault[]>();
  const raise = (f: Fault): never => {
    throw typeof f.error === 'function' ? f.error() : f.error;
  };
  return {
    failNext(op, options = {}) {
      const error = options.error ?? (() => new ServiceError('upstream_unavailable', `${fake}: injected fault in ${op}`, { retryable: true }));
      const queue = queues.get(op) ?? [];
      for (let i = 0; i < (options.times ?? 1); i++) queue.push({ error, afterEffect: options.afterEffect ?? false });
      queues.set(op, queue);
    },
    run(op, effect) {
      const fault = queues.get(op)?.shift();
      if (fault && !fault.afterEffect) raise(fault);
      const result = effect();
      if (fault) raise(fault);
      return result;
    },
  };
}
