import { performance } from 'node:perf_hooks';
import { fromPromise, type AnyActorRef } from 'xstate';
import { isUnknownOutcome } from '../machines/steps.ts';
import type { Logger } from 'pino';
import type { AllocateInput, Allocation, CpeInput, LifecycleInput, OwnedPrefix, RadiusReplyInput, ReleaseInput, SessionPurpose, SessionsInput, Stamped } from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort, SessionAction, SessionOutcome } from '../services/radius/port.ts';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { ServiceError } from '../services/errors.ts';
import { withLogScope } from './log-context.ts';
import { nextPendingAttempt, type PendingBackoff } from './pending-worker.ts';
import type { Flights } from './flights.ts';
import { stringify } from 'safe-stable-stringify';

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
  onStep?: (step: string, outcome: 'ok' | 'error' | 'refused' | 'queued', seconds: number) => void;
  /** The IPAM kind that serves a pool (`embedded`, `netbox`, `fake`): IPAM steps are named after it. */
  ipamKind?: (pool: string) => string;
  /** The pending-work scheduler's backoff: when a CPE command kept as a pending step is first asked again. */
  pendingBackoff?: PendingBackoff;
  /** Where a step's call goes on while the host parks its lifecycle (runtime/flights.ts). */
  flights?: Flights;
}

/** Why a step did nothing: no peer configured for it, or nothing for the peer to act on. */
export type SkipReason = 'not_configured' | 'no_username' | 'no_cpe_id';

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
  const now = () => (opts.now ?? (() => new Date()))().toISOString();
  const report = (name: string, outcome: 'ok' | 'error' | 'refused' | 'queued', started: number) =>
    opts.onStep?.(name, outcome, (performance.now() - started) / 1000);
  const failed = (err: unknown) => (isUnknownOutcome(err) ? 'error' : 'refused');
  // `metric`: the step's public name, or null when the caller reports the outcome itself.
  const run = async <T>(step: string, signal: AbortSignal, fn: () => Promise<T>, metric: string | null = step): Promise<T> => {
    const started = performance.now();
    try {
      const result = await withRetry(() => fn(), opts.retry, {
        signal,
        onRetry: (err, attempt, delayMs) => opts.log.warn({ step, code: err.code, message: err.message, ...peerDetail(err), attempt, delay_ms: delayMs }, 'step failed; retrying'),
        afterCommit: opts.afterCommit,
      });
      if (metric) report(metric, 'ok', started);
      return result;
    } catch (err) {
      const e = err as ServiceError;
      if (signal.aborted) throw e;
      if (metric) report(metric, failed(e), started);
      // A peer that keeps failing is an operational condition (warn); only our own bug is an error.
      opts.log[e.code === 'internal' ? 'error' : 'warn']({ step, code: e.code, message: e.message, ...peerDetail(e), attempts: e.attempts }, 'step gave up');
      if (e.code !== 'internal') throw e;
      // A bug's text (paths, SQL) belongs in the log, not in the lifecycle that API clients read.
      const safe = new ServiceError('internal', `internal error in ${step}; see the service log`);
      safe.attempts = e.attempts;
      throw safe;
    }
  };
  /** The actor of one step: its result (or its failure) stamped with the time it came. */
  const actor = <I, T>(fn: (input: I, signal: AbortSignal) => Promise<T | Skipped<T>>) =>
    fromPromise<Stamped<T>, I>(({ input, signal, self }: Args<I> & { self: AnyActorRef }) => {
      const parent = self._parent?.getSnapshot()?.context as Partial<LifecycleInput> | undefined;
      const lifecycleId = parent?.lifecycleId;
      const subscriberId = parent?.subscriberId;
      // Every line the step logs (retries, give-up, the ports' own) names its lifecycle; the
      // request id, if a request started the step, comes along from the caller's scope. `call`
      // holds neither `self` nor the actor's signal: a parked call must not keep its actor alive.
      const call = (callSignal: AbortSignal) => withLogScope({ subscriber_id: subscriberId, lifecycle_id: lifecycleId }, async () => {
        try {
          const out = await fn(input, callSignal);
          if (out instanceof Skipped) return { at: now(), result: out.result, skipped: out.reason };
          const stamped: Stamped<T> = { at: now(), result: out };
          // A CPE command kept as a pending step: the scheduler's first backoff says when it asks again.
          const queued = (out as Partial<CpeResult> | undefined)?.status === 'queued';
          if (queued && opts.pendingBackoff) stamped.retryAt = nextPendingAttempt(opts.pendingBackoff, 1, new Date(stamped.at));
          return stamped;
        } catch (err) {
          throw Object.assign(err instanceof ServiceError ? err : new ServiceError('internal', String(err)), { at: now() });
        }
      });
      // The invocation's id and input name the call (the input by its idempotency key when it has
      // one): a restored actor joins the call its parked lifecycle left running.
      const { flights } = opts;
      if (!flights || !lifecycleId) return call(signal);
      const key = (input as { key?: unknown }).key;
      return flights.run(lifecycleId, `${self.id} ${typeof key === 'string' ? key : stringify(input)}`, signal, call);
    });

  const writeReply = async ({ username, prefix }: RadiusReplyInput, signal: AbortSignal) => {
    const { replies } = ports;
    if (!replies) return skip<void>('not_configured', undefined);
    if (!username || !prefix) return skip<void>('no_username', undefined);
    // The reply store derives Framed-IPv6-Prefix from `radius.reply.framed_prefix`: nothing to give here.
    const cmd = { username, delegatedPrefix: prefix.prefix, framedPrefix: null };
    await run('radius_write_reply', signal, () => replies.writeReply(cmd, signal));
  };

  const ipamName = (verb: string, pool: string, kind?: string) => `${kind ?? opts.ipamKind?.(pool) ?? 'ipam'}_${verb}`;
  const releaseName = (verb: string, input: ReleaseInput) =>
    ipamName(verb, input.prefixes[0]?.pool ?? input.unconfirmed[0]?.pool ?? '', input.prefixes[0]?.ipam);

  const ipamCommand = (input: ReleaseInput, p: OwnedPrefix) => ({
    lifecycleId: input.lifecycleId,
    subscriberId: input.subscriberId,
    pool: p.pool,
    prefix: p.prefix,
    netboxPrefixId: p.netboxPrefixId,
  });

  const release = (input: ReleaseInput, signal: AbortSignal) =>
    run('ipam_release', signal, async () => {
      const prefixes: OwnedPrefix[] = [...input.prefixes];
      for (const a of input.unconfirmed) {
        // A lost attempt is looked up by its key, never allocated again: a rollback of an allocation
        // that failed must not need the allocation to work, and finding nothing means nothing is held.
        const held = await ports.ipam.allocatedUnder({ key: a.key, lifecycleId: input.lifecycleId, pool: a.pool }, signal);
        for (const got of held) {
          // Its answer never reached the lifecycle, so nothing carries it: free at once.
          if (!prefixes.some((p) => p.prefix === got.prefix)) await ports.ipam.free(ipamCommand(input, { ...got, pool: a.pool, generation: a.generation, ipam: a.ipam }), signal);
        }
      }
      for (const p of prefixes) {
        const cmd = ipamCommand(input, p);
        await (input.free ? ports.ipam.free(cmd, signal) : ports.ipam.release(cmd, signal));
      }
    }, releaseName('release', input));

  /** The revocation's last step: the prefixes its release quarantined become reusable. */
  const free = (input: ReleaseInput, signal: AbortSignal) =>
    run('ipam_free', signal, async () => {
      for (const p of input.prefixes) await ports.ipam.free(ipamCommand(input, p), signal);
    }, releaseName('free', input));

  /**
   * One CPE command. A CPE the ACS has not seen yet (not shipped, never powered on) is an offline
   * CPE: the command stays a pending step. With `queueOnFailure`, so does an ACS that keeps
   * failing: the command must not leave the lifecycle `failed` (revocation has already given the
   * prefix back; a rollback has already put RADIUS back), so it is retried with backoff, visible in
   * `pending` and its metric.
   */
  const cpeCommand = (op: 'configurePd' | 'removeIpv6', queueOnFailure: boolean) => async (input: CpeInput, signal: AbortSignal): Promise<CpeResult | Skipped<CpeResult>> => {
    const { cpe } = ports;
    if (!cpe) return skip('not_configured', { status: 'done' });
    if (!input.cpeId) return skip('no_cpe_id', { status: 'done' });
    const cmd = { key: input.key, cpeId: input.cpeId };
    const step = op === 'configurePd' ? 'cpe_configure_pd' : 'cpe_remove_ipv6';
    const started = performance.now();
    try {
      const result = await run(step, signal, async (): Promise<CpeResult> => {
        try {
          return await (op === 'configurePd' ? cpe.configurePd({ ...cmd, prefix: input.prefix ?? '' }, signal) : cpe.removeIpv6(cmd, signal));
        } catch (err) {
          if (err instanceof ServiceError && err.code === 'not_found') return { status: 'queued', taskId: null };
          throw err;
        }
      }, null);
      report(step, result.status === 'queued' ? 'queued' : 'ok', started);
      return result;
    } catch (err) {
      if (signal.aborted) throw err;
      report(step, queueOnFailure ? 'queued' : failed(err), started);
      if (!queueOnFailure) throw err;
      opts.log.warn({ key: input.key, cpe_id: input.cpeId, err: String(err) }, 'CPE command failed; kept as a pending step');
      return { status: 'queued', taskId: null };
    }
  };

  return {
    allocatePrefix: actor((input: AllocateInput, signal) =>
      run(
        'ipam_allocate',
        signal,
        () =>
          ports.ipam.allocate(
            // Generation 0 is the lifecycle's own prefix; a later one is an update renumbering it.
            { key: input.key, lifecycleId: input.lifecycleId, subscriberId: input.subscriberId, pool: input.pool, prefixLength: input.prefixLength, renumber: input.generation > 0 },
            signal,
          ),
        ipamName('allocate', input.pool),
      ),
    ),
    releasePrefix: actor(release),
    freePrefix: actor(free),
    writeRadiusReply: actor(writeReply),
    removeRadiusReply: actor(async ({ username }: RadiusReplyInput, signal) => {
      const { replies } = ports;
      if (!replies) return skip<void>('not_configured', undefined);
      if (!username) return skip<void>('no_username', undefined);
      await run('radius_remove_reply', signal, () => replies.removeReply({ username }, signal));
    }),
    notifySessions: actor(async (input: SessionsInput, signal): Promise<SessionOutcome[] | Skipped<SessionOutcome[]>> => {
      const { username } = input;
      const { sessions } = ports;
      if (!sessions) return skip('not_configured', []);
      if (!username) return skip('no_username', []);
      const action = opts.sessionAction[input.purpose];
      const outcomes = await run('radius_sessions', signal, () => sessions.notifySessions({ username, action, delegatedPrefix: input.prefix }, signal));
      for (const outcome of outcomes) {
        opts.onSessionOutcome?.(input.purpose, outcome);
        // RFC 5176 gives no way to tell a NAS without CoA support from a lost packet: warn and go on.
        if (outcome.result === 'no_answer') opts.log.warn({ nas: outcome.nas, session_id: outcome.sessionId, action }, 'NAS did not answer; continuing');
      }
      return outcomes;
    }),
    configureCpe: actor(cpeCommand('configurePd', false)),
    restoreCpe: actor(cpeCommand('configurePd', true)),
    removeCpeIpv6: actor(cpeCommand('removeIpv6', true)),
  };
}

/** The peer's own words (its body, redacted) for the log line; API answers only ever see the message. */
const peerDetail = (err: ServiceError) => (err.detail ? { detail: err.detail } : {});

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
