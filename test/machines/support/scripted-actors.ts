import { fromPromise } from 'xstate';
import type { AnyEventObject } from 'xstate';
import type { AllocateInput, AllocationAttempt, OwnedPrefix, ReleaseInput } from '../../../machines/types.ts';
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
  'freePrefix',
  'writeRadiusReply',
  'removeRadiusReply',
  'notifySessions',
  'configureCpe',
  'restoreCpe',
  'removeCpeIpv6',
] as const;

export function toServiceError(e: ScriptedError): ServiceError {
  const err = new ServiceError(e.code, e.message, { retryable: e.code !== 'pool_exhausted' });
  err.attempts = e.attempts;
  return Object.assign(err, { at: e.at });
}

/**
 * Fake step actors whose outcome the test decides, plus the IPAM side of the story: `ledger` maps
 * each prefix IPAM holds for the lifecycle to the generation whose allocation key took it, moved
 * only by allocations and releases that happened upstream (whether or not their reply arrived).
 */
export function createScriptedActors() {
  const calls: Call[] = [];
  const ledger = new Map<string, number>();

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
    const drop = (p: OwnedPrefix | null) => p && ledger.delete(p.prefix);
    // The runtime allocates again with the attempt's key, which returns what IPAM holds under it, and releases that.
    const dropAttempt = (a: AllocationAttempt) => [...ledger].filter(([, g]) => g === a.generation).forEach(([p]) => ledger.delete(p));
    if (call.src === 'allocatePrefix') {
      const { generation } = call.input as AllocateInput;
      const prefix = (output as { prefix: string }).prefix;
      const before = [...ledger].find(([, g]) => g === generation)?.[0];
      // An idempotent IPAM answers a repeated key with what it already holds under it.
      if (before !== undefined && before !== prefix) throw new Error(`script error: key of generation ${generation} holds ${before}, not ${prefix}`);
      ledger.set(prefix, generation);
    }
    if (call.src === 'releasePrefix') {
      const { prefixes, unconfirmed } = call.input as ReleaseInput;
      prefixes.forEach(drop);
      unconfirmed.forEach(dropAttempt);
    }
  }

  // A step whose state was left (an IMPORT leaves `pending`) is stopped: its signal is aborted.
  const outstanding = () => calls.filter((c) => !c.settled && !c.signal.aborted);

  function callFor(actorId: string): Call {
    const call = outstanding().find((c) => c.id === actorId);
    if (!call) throw new Error(`no running step ${actorId}; running: ${outstanding().map((c) => c.id).join(', ') || 'none'}`);
    return call;
  }

  /** The step succeeded upstream but its reply was lost (a timeout after the write). */
  function loseReply(actorId: string, wouldHaveReturned: unknown, error: ScriptedError): Call {
    const call = callFor(actorId);
    applyToIpam(call, wouldHaveReturned);
    call.reject(toServiceError(error));
    return call;
  }

  return {
    actors: Object.fromEntries(SOURCES.map((src) => [src, actorFor(src)])) as Record<(typeof SOURCES)[number], ReturnType<typeof actorFor>>,
    calls,
    ledger,
    /** The prefixes IPAM holds for the lifecycle, sorted. */
    held: () => [...ledger.keys()].sort(),
    outstanding,
    /**
     * Delivers a model done/error event the way production would: by ending the step's promise.
     * An error event with `lostOutput` is a lost reply: IPAM did the work, the answer never came.
     */
    settle(event: AnyEventObject): Call {
      const actorId = String(event.actorId);
      if (event.type.startsWith('xstate.done.actor.')) {
        const call = callFor(actorId);
        applyToIpam(call, (event.output as { result: unknown }).result);
        call.resolve(event.output);
        return call;
      }
      if (event.lostOutput !== undefined) return loseReply(actorId, event.lostOutput, event.error as ScriptedError);
      const call = callFor(actorId);
      call.reject(toServiceError(event.error as ScriptedError));
      return call;
    },
    loseReply,
  };
}

export type ScriptedActors = ReturnType<typeof createScriptedActors>;
