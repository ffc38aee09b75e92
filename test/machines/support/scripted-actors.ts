import { fromPromise } from 'xstate';
import type { AnyEventObject } from 'xstate';
import type { HeldPrefix, ReleaseInput, RollbackInput } from '../../../machines/types.ts';
import { ServiceError } from '../../../services/errors.ts';
import type { ScriptedError } from './model.ts';

/** One run of an invoked step: it stays open until the test settles it, so every step can be observed. */
export interface Call {
  /** The invocation id, `0.prefixLifecycle.<state path>`. */
  id: string;
  src: string;
  input: unknown;
  signal: AbortSignal;
  settled: boolean;
  resolve(output: unknown): void;
  reject(error: unknown): void;
}

export const SOURCES = [
  'allocatePrefix',
  'releasePrefix',
  'writeRadiusReply',
  'removeRadiusReply',
  'notifySessions',
  'configureCpe',
  'removeCpeIpv6',
  'rollbackUpdate',
] as const;

export function toServiceError(e: ScriptedError): ServiceError {
  const err = new ServiceError(e.code, e.message, { retryable: e.code !== 'pool_exhausted' });
  err.attempts = e.attempts;
  return err;
}

/**
 * Fake step actors whose outcome the test decides, plus the IPAM side of the story: `ledger` is
 * what IPAM holds for the lifecycle, moved only by allocations and releases that succeeded.
 */
export function createScriptedActors() {
  const calls: Call[] = [];
  const ledger = new Set<string>();

  const actorFor = (src: string) =>
    fromPromise<unknown, unknown>(
      ({ input, self, signal }) =>
        new Promise((resolve, reject) => {
          const call: Call = {
            id: self.id,
            src,
            input,
            signal,
            settled: false,
            resolve: (v) => ((call.settled = true), resolve(v)),
            reject: (e) => ((call.settled = true), reject(e)),
          };
          calls.push(call);
        }),
    );

  /** What IPAM does when the step really happened, whether or not its reply reaches the machine. */
  function applyToIpam(call: Call, output: unknown): void {
    const drop = (p: HeldPrefix | null) => p && ledger.delete(p.prefix);
    if (call.src === 'allocatePrefix') ledger.add((output as { prefix: string }).prefix);
    if (call.src === 'releasePrefix') (call.input as ReleaseInput).prefixes.forEach(drop);
    if (call.src === 'rollbackUpdate') drop((call.input as RollbackInput).release);
  }

  const outstanding = () => calls.filter((c) => !c.settled);

  function callFor(actorId: string): Call {
    const call = outstanding().find((c) => c.id === actorId);
    if (!call) throw new Error(`no running step ${actorId}; running: ${outstanding().map((c) => c.id).join(', ') || 'none'}`);
    return call;
  }

  return {
    actors: Object.fromEntries(SOURCES.map((src) => [src, actorFor(src)])) as Record<(typeof SOURCES)[number], ReturnType<typeof actorFor>>,
    calls,
    ledger,
    outstanding,
    /** Delivers a model done/error event the way production would: by ending the step's promise. */
    settle(event: AnyEventObject): Call {
      const call = callFor(String(event.actorId));
      if (event.type.startsWith('xstate.done.actor.')) {
        applyToIpam(call, event.output);
        call.resolve(event.output);
      } else {
        call.reject(toServiceError(event.error as ScriptedError));
      }
      return call;
    },
    /** The step succeeded upstream but its reply was lost (a timeout after the write). */
    loseReply(actorId: string, wouldHaveReturned: unknown, error: ScriptedError): Call {
      const call = callFor(actorId);
      applyToIpam(call, wouldHaveReturned);
      call.reject(toServiceError(error));
      return call;
    },
  };
}

export type ScriptedActors = ReturnType<typeof createScriptedActors>;
