import { fromPromise, type AnyActorRef } from 'xstate';
import type { Logger } from 'pino';
import type { AllocateInput, CpeInput, LifecycleInput, OwnedPrefix, RadiusReplyInput, ReleaseInput, SessionPurpose, SessionsInput, Stamped } from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort, SessionAction, SessionOutcome } from '../services/radius/port.ts';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { ServiceError } from '../services/errors.ts';
import { withLogScope } from './log-context.ts';

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
}

type Args<I> = { input: I; signal: AbortSignal };

/**
 * The machine's invoked actors, each a retried call through one port. Every actor resolves with
 * `{ at, result }` and rejects with a `ServiceError` stamped `at`: the time comes from here.
 */
export function createStepActors(ports: StepPorts, opts: StepOptions) {
  const now = () => (opts.now ?? (() => new Date()))().toISOString();
  const run = async <T>(step: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> => {
    try {
      return await withRetry(() => fn(), opts.retry, {
        signal,
        onRetry: (err, attempt, delayMs) => opts.log.warn({ step, code: err.code, message: err.message, ...peerDetail(err), attempt, delay_ms: delayMs }, 'step failed; retrying'),
        afterCommit: opts.afterCommit,
      });
    } catch (err) {
      const e = err as ServiceError;
      if (signal.aborted) throw e;
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
  const actor = <I, T>(fn: (input: I, signal: AbortSignal) => Promise<T>) =>
    fromPromise<Stamped<T>, I>(({ input, signal, self }: Args<I> & { self: AnyActorRef }) => {
      // Every line the step logs (retries, give-up, the ports' own) names its lifecycle; the
      // request id, if a request started the step, comes along from the caller's scope.
      const parent = self._parent?.getSnapshot()?.context as Partial<LifecycleInput> | undefined;
      return withLogScope({ subscriber_id: parent?.subscriberId, lifecycle_id: parent?.lifecycleId }, async () => {
        try {
          const result = await fn(input, signal);
          return { at: now(), result };
        } catch (err) {
          throw Object.assign(err instanceof ServiceError ? err : new ServiceError('internal', String(err)), { at: now() });
        }
      });
    });

  const writeReply = async ({ username, prefix }: RadiusReplyInput, signal: AbortSignal) => {
    const { replies } = ports;
    if (!replies || !username || !prefix) return;
    // The reply store derives Framed-IPv6-Prefix from `radius.reply.framed_prefix`: nothing to give here.
    const cmd = { username, delegatedPrefix: prefix.prefix, framedPrefix: null };
    await run('radius_write_reply', signal, () => replies.writeReply(cmd, signal));
  };

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
    });

  /** The revocation's last step: the prefixes its release quarantined become reusable. */
  const free = (input: ReleaseInput, signal: AbortSignal) =>
    run('ipam_free', signal, async () => {
      for (const p of input.prefixes) await ports.ipam.free(ipamCommand(input, p), signal);
    });

  /**
   * One CPE command. A CPE the ACS has not seen yet (not shipped, never powered on) is an offline
   * CPE: the command stays a pending step. With `queueOnFailure`, so does an ACS that keeps
   * failing: the command must not leave the lifecycle `failed` (revocation has already given the
   * prefix back; a rollback has already put RADIUS back), so it is retried with backoff, visible in
   * `pending` and its metric.
   */
  const cpeCommand = (op: 'configurePd' | 'removeIpv6', queueOnFailure: boolean) => async (input: CpeInput, signal: AbortSignal): Promise<CpeResult> => {
    const { cpe } = ports;
    if (!cpe || !input.cpeId) return { status: 'done' };
    const cmd = { key: input.key, cpeId: input.cpeId };
    const step = op === 'configurePd' ? 'cpe_configure_pd' : 'cpe_remove_ipv6';
    try {
      return await run(step, signal, async (): Promise<CpeResult> => {
        try {
          return await (op === 'configurePd' ? cpe.configurePd({ ...cmd, prefix: input.prefix ?? '' }, signal) : cpe.removeIpv6(cmd, signal));
        } catch (err) {
          if (err instanceof ServiceError && err.code === 'not_found') return { status: 'queued', taskId: null };
          throw err;
        }
      });
    } catch (err) {
      if (!queueOnFailure || signal.aborted) throw err;
      opts.log.warn({ key: input.key, cpe_id: input.cpeId, err: String(err) }, 'CPE command failed; kept as a pending step');
      return { status: 'queued', taskId: null };
    }
  };

  return {
    allocatePrefix: actor((input: AllocateInput, signal) =>
      run('ipam_allocate', signal, () =>
        ports.ipam.allocate({ key: input.key, lifecycleId: input.lifecycleId, subscriberId: input.subscriberId, pool: input.pool, prefixLength: input.prefixLength }, signal),
      ),
    ),
    releasePrefix: actor(release),
    freePrefix: actor(free),
    writeRadiusReply: actor(writeReply),
    removeRadiusReply: actor(async ({ username }: RadiusReplyInput, signal) => {
      const { replies } = ports;
      if (!replies || !username) return;
      await run('radius_remove_reply', signal, () => replies.removeReply({ username }, signal));
    }),
    notifySessions: actor(async (input: SessionsInput, signal): Promise<SessionOutcome[]> => {
      const { username } = input;
      const { sessions } = ports;
      if (!sessions || !username) return [];
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
