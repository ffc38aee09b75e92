import { performance } from 'node:perf_hooks';
import { fromPromise, type AnyActorRef } from 'xstate';
import type { Logger } from 'pino';
import type { AllocateInput, Allocation, CpeInput, LifecycleInput, RadiusReplyInput, ReleaseInput, SessionPurpose, SessionsInput, Stamped } from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort, SessionAction, SessionOutcome } from '../services/radius/port.ts';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import type { RetryPolicy } from './retry.ts';
import { logScopeWith } from './log-context.ts';
import type { PendingBackoff } from './pending-worker.ts';
import type { Flights, Landing } from './flights.ts';
import { StepCall, type StepKind, type StepOutcome, type StepRuntime } from './step-call.ts';
import { stringify } from 'safe-stable-stringify';
import { refuseHeldPrefix, type PrefixHolder } from './allocation-guard.ts';
import { giveBack, ipamCommand } from './give-back.ts';

/** The ports the lifecycle's steps reach the outside through. */
export interface StepPorts {
  ipam: IpamPort;
  /** Null when no RADIUS database is configured: RADIUS steps are skipped. */
  replies: RadiusReplyPort | null;
  sessions: DynamicAuthorizationPort | null;
  /** Null when no ACS is configured: CPE steps are skipped. */
  cpe: CpePort | null;
}

export interface StepOptions {
  retry: RetryPolicy;
  /** Disconnect or CoA, per purpose. */
  sessionAction: Record<SessionPurpose, SessionAction>;
  log: Logger;
  /** Resolves once the snapshots of this event-loop turn (the one that started the step included) are on disk. */
  afterCommit?: () => Promise<void>;
  /** Called with every session outcome, for metrics. */
  onSessionOutcome?: (purpose: SessionPurpose, outcome: SessionOutcome) => void;
  /** The clock the machine reads through step outputs and errors (it has none of its own). */
  now?: () => Date;
  /** Called when a step ends (retries included), under its public name (machines/steps.ts), for metrics. */
  onStep?: (step: string, outcome: StepOutcome, seconds: number) => void;
  /** The IPAM kind that serves a pool (`embedded`, `netbox`, `fake`): IPAM steps are named after it. */
  ipamKind?: (pool: string) => string;
  /** The pending-work scheduler's backoff: when a CPE command kept as a pending step is first asked again. */
  pendingBackoff?: PendingBackoff;
  /** Where a step's call goes on while the host parks its lifecycle (runtime/flights.ts). */
  flights?: Flights;
  /** A later live lifecycle on this CPE (the store's `newerOnCpe`), or null: its removal would undo that one's work. */
  cpeSuccessor?: (lifecycleId: string, cpeId: string) => Promise<string | null> | string | null;
  /** Another live lifecycle on a prefix (the store's `prefixHolder`): a non-embedded IPAM's answer is checked against it. */
  prefixHolder?: PrefixHolder;
}

/** Why a step did nothing: no peer configured for it, or nothing for the peer to act on. */
export type SkipReason = 'not_configured' | 'no_username' | 'no_cpe_id' | 'cpe_superseded';

/** What a step returns when it had nothing to talk to: the machine gets `result`, the audit trail `skipped`. */
class Skipped<T> {
  constructor(
    readonly reason: SkipReason,
    readonly result: T,
  ) {}
}
const skip = <T>(reason: SkipReason, result: T) => new Skipped(reason, result);

type Args<I> = { input: I; signal: AbortSignal };

/**
 * The machine's invoked actors, each a retried call through one port. Every actor resolves with
 * `{ at, result }` and rejects with a `ServiceError` stamped `at`: the time comes from here.
 */
export function createStepActors(ports: StepPorts, opts: StepOptions) {
  const rt: StepRuntime = {
    retry: opts.retry,
    log: opts.log,
    afterCommit: opts.afterCommit,
    now: () => (opts.now ?? (() => new Date()))().toISOString(),
    onStep: opts.onStep,
    pendingBackoff: opts.pendingBackoff,
  };
  /**
   * The actor of one kind of step: skipped (`skip`), or its call retried, its result (or its failure)
   * stamped with the time it came (runtime/step-call.ts).
   */
  const actor = <I, T>(kind: StepKind<I, T>, skip: (input: I, lifecycleId?: string) => Skipped<T> | null | Promise<Skipped<T> | null> = () => null) =>
    fromPromise<Stamped<T>, I>(({ input, signal, self }: Args<I> & { self: AnyActorRef }) => {
      const parent = self._parent?.getSnapshot()?.context as Partial<LifecycleInput> | undefined;
      const lifecycleId = parent?.lifecycleId;
      // Every line the step logs (retries, give-up, the ports' own) names its lifecycle; the request
      // id, if a request started the step, comes along from the caller's scope, captured now.
      const scope = logScopeWith({ subscriber_id: parent?.subscriberId, lifecycle_id: lifecycleId });
      // Holds neither `self` nor the actor's signal: a parked call must not keep its actor alive.
      const start = (callSignal: AbortSignal, land: Landing<Stamped<T>>) => {
        const go = (skipped: Skipped<T> | null) => {
          if (skipped) return land.resolve({ at: rt.now(), result: skipped.result, skipped: skipped.reason });
          new StepCall(rt, kind, input, scope, callSignal, land).start();
        };
        const skipped = skip(input, lifecycleId);
        if (skipped instanceof Promise) skipped.then(go, () => checkedCall(callSignal, land));
        else go(skipped);
      };
      // The check failed (the store's newerOnCpe: busy, a connection lost): each attempt of the call
      // asks it again first, so its failure is the step's, retried, given up or kept pending as the
      // port's is (runtime/step-call.ts), never the raw error of a driver failing the lifecycle.
      const checkedCall = (callSignal: AbortSignal, land: Landing<Stamped<T>>) => {
        let reason: SkipReason | undefined;
        const checked: StepKind<I, T> = {
          ...kind,
          call: async (i, s) => {
            const again = await skip(i, lifecycleId);
            if (!again) return kind.call(i, s);
            reason = again.reason;
            return again.result;
          },
        };
        const landing = { resolve: (v: Stamped<T>) => land.resolve(reason ? { ...v, skipped: reason } : v), reject: land.reject };
        new StepCall(rt, checked, input, scope, callSignal, landing).start();
      };
      // The invocation's id and input name the call (the input by its idempotency key when it has
      // one): a restored actor joins the call its parked lifecycle left running.
      const { flights } = opts;
      if (!flights || !lifecycleId) return new Promise<Stamped<T>>((resolve, reject) => start(signal, { resolve, reject }));
      const key = (input as { key?: unknown }).key;
      return flights.run(lifecycleId, `${self.id} ${typeof key === 'string' ? key : stringify(input)}`, signal, start);
    });

  const ipamName = (verb: string, pool: string, kind?: string) => `${kind ?? opts.ipamKind?.(pool) ?? 'ipam'}_${verb}`;
  const releaseName = (verb: string, input: ReleaseInput) =>
    ipamName(verb, input.prefixes[0]?.pool ?? input.unconfirmed[0]?.pool ?? '', input.prefixes[0]?.ipam);

  const release: StepKind<ReleaseInput, void> = {
    step: 'ipam_release',
    metric: (input) => releaseName('release', input),
    call: (input, signal) => giveBack(ports.ipam, input, signal),
  };

  /** The revocation's last step: the prefixes its release quarantined become reusable. */
  const free: StepKind<ReleaseInput, void> = {
    step: 'ipam_free',
    metric: (input) => releaseName('free', input),
    async call(input, signal) {
      for (const p of input.prefixes) await ports.ipam.free(ipamCommand(input, p), signal);
    },
  };

  const noReplies = ({ username }: RadiusReplyInput) => (!ports.replies ? skip<void>('not_configured', undefined) : !username ? skip<void>('no_username', undefined) : null);

  /**
   * One CPE command. A CPE the ACS has not seen yet (not shipped, never powered on) is an offline
   * CPE: the command stays a pending step. With `queueOnFailure`, so does an ACS that keeps
   * failing: the command must not leave the lifecycle `failed` (revocation has already given the
   * prefix back; a rollback has already put RADIUS back), so it is retried with backoff, visible in
   * `pending` and its metric.
   */
  const cpeCommand = (op: 'configurePd' | 'removeIpv6', queueOnFailure: boolean): StepKind<CpeInput, CpeResult> => {
    const step = op === 'configurePd' ? 'cpe_configure_pd' : 'cpe_remove_ipv6';
    return {
      step,
      metric: () => step,
      cpe: { queueOnFailure },
      call: (input, signal) => {
        const cmd = { key: input.key, cpeId: input.cpeId! };
        return op === 'configurePd' ? ports.cpe!.configurePd({ ...cmd, prefix: input.prefix ?? '' }, signal) : ports.cpe!.removeIpv6(cmd, signal);
      },
    };
  };
  const noCpe = (input: CpeInput) => (!ports.cpe ? skip<CpeResult>('not_configured', { status: 'done' }) : !input.cpeId ? skip<CpeResult>('no_cpe_id', { status: 'done' }) : null);
  /**
   * The CPE went on to a later lifecycle (the next tenant's) before this one was revoked: turning
   * its PD off now would undo that one's work, so the removal is moot, as a pending one is
   * (runtime/pending-worker.ts).
   */
  const superseded = async (input: CpeInput, lifecycleId: string | undefined): Promise<Skipped<CpeResult> | null> => {
    const successor = lifecycleId && opts.cpeSuccessor ? await opts.cpeSuccessor(lifecycleId, input.cpeId!) : null;
    if (!successor) return null;
    opts.log.info({ lifecycle_id: lifecycleId, cpe_id: input.cpeId, superseded_by: successor }, 'CPE removal skipped: a later lifecycle has the CPE');
    return skip<CpeResult>('cpe_superseded', { status: 'done' });
  };

  return {
    allocatePrefix: actor<AllocateInput, Allocation>({
      step: 'ipam_allocate',
      metric: (input) => ipamName('allocate', input.pool),
      async call(input, signal) {
        const got = await ports.ipam.allocate(
          // Generation 0 is the lifecycle's own prefix; a later one is an update renumbering it.
          { key: input.key, lifecycleId: input.lifecycleId, subscriberId: input.subscriberId, pool: input.pool, prefixLength: input.prefixLength, renumber: input.generation > 0 },
          signal,
        );
        // The embedded IPAM's blocks are in the store's own file: only another IPAM can disagree with it.
        const kind = opts.ipamKind?.(input.pool) ?? 'ipam';
        if (opts.prefixHolder && kind !== 'embedded') await refuseHeldPrefix(ports.ipam, opts.prefixHolder, kind, input, got, signal);
        return got;
      },
    }),
    releasePrefix: actor(release),
    freePrefix: actor(free),
    writeRadiusReply: actor<RadiusReplyInput, void>(
      {
        step: 'radius_write_reply',
        metric: () => 'radius_write_reply',
        // The reply store derives Framed-IPv6-Prefix from `radius.reply.framed_prefix`: nothing to give here.
        call: ({ username, prefix }, signal) => ports.replies!.writeReply({ username: username!, delegatedPrefix: prefix!.prefix, framedPrefix: null }, signal),
      },
      (input) => noReplies(input) ?? (!input.prefix ? skip<void>('no_username', undefined) : null),
    ),
    removeRadiusReply: actor<RadiusReplyInput, void>(
      { step: 'radius_remove_reply', metric: () => 'radius_remove_reply', call: ({ username }, signal) => ports.replies!.removeReply({ username: username! }, signal) },
      (input) => noReplies(input),
    ),
    notifySessions: actor<SessionsInput, SessionOutcome[]>(
      {
        step: 'radius_sessions',
        metric: () => 'radius_sessions',
        call: (input, signal) => ports.sessions!.notifySessions({ username: input.username!, action: opts.sessionAction[input.purpose], delegatedPrefix: input.prefix }, signal),
        then(input, outcomes) {
          const action = opts.sessionAction[input.purpose];
          for (const outcome of outcomes) {
            opts.onSessionOutcome?.(input.purpose, outcome);
            // RFC 5176 gives no way to tell a NAS without CoA support from a lost packet: warn and go on.
            if (outcome.result === 'no_answer') opts.log.warn({ nas: outcome.nas, session_id: outcome.sessionId, action }, 'NAS did not answer; continuing');
          }
        },
      },
      (input) => (!ports.sessions ? skip('not_configured', []) : !input.username ? skip('no_username', []) : null),
    ),
    configureCpe: actor(cpeCommand('configurePd', false), noCpe),
    restoreCpe: actor(cpeCommand('configurePd', true), noCpe),
    removeCpeIpv6: actor(cpeCommand('removeIpv6', true), (input, lifecycleId) => noCpe(input) ?? superseded(input, lifecycleId)),
  };
}

/**
 * The allocation step made at once, inside the transaction that stores the lifecycle (ActorHost's
 * `createAtOnce`), when the pool's IPAM can allocate synchronously on the store's own connection
 * (the embedded IPAM). It resolves as the `allocatePrefix` actor does (`{ at, result }`) and reports
 * the same metric (`report()`, once stored); null when the IPAM cannot, and it throws on any failure: the caller then runs the
 * ordinary step (with its retries, logs and refusals) instead, nothing of this attempt being written.
 */
export function createAllocateNow(ports: Pick<StepPorts, 'ipam'>, opts: Pick<StepOptions, 'now' | 'onStep' | 'ipamKind'>) {
  const { ipam } = ports;
  if (!ipam.allocateNow) return null;
  const now = () => (opts.now ?? (() => new Date()))().toISOString();
  return (input: AllocateInput): { output: Stamped<Allocation>; report(): void } | null => {
    const started = performance.now();
    const result = ipam.allocateNow!({
      key: input.key,
      lifecycleId: input.lifecycleId,
      subscriberId: input.subscriberId,
      pool: input.pool,
      prefixLength: input.prefixLength,
      renumber: input.generation > 0,
    });
    if (!result) return null;
    const seconds = (performance.now() - started) / 1000;
    // Reported once the transaction is on disk: a batch retried after a lock runs this again.
    return { output: { at: now(), result }, report: () => opts.onStep?.(`${opts.ipamKind?.(input.pool) ?? 'ipam'}_allocate`, 'ok', seconds) };
  };
}
