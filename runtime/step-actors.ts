import { fromPromise } from 'xstate';
import type { Logger } from 'pino';
import type {
  AllocateInput,
  CpeInput,
  RadiusReplyInput,
  ReleaseInput,
  RollbackInput,
  SessionPurpose,
  SessionsInput,
} from '../machines/types.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort, SessionAction, SessionOutcome } from '../services/radius/port.ts';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import { withRetry, type RetryPolicy } from './retry.ts';
import { ServiceError } from '../services/errors.ts';

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
  /** The WAN Framed-IPv6-Prefix for a delegated prefix, or null to send none. */
  framedPrefix: (delegated: string) => string | null;
  log: Logger;
  /** Resolves once every snapshot taken so far is on disk (the actor host's group commit). */
  stored?: () => Promise<void>;
  /** Called with every session outcome, for metrics. */
  onSessionOutcome?: (purpose: SessionPurpose, outcome: SessionOutcome) => void;
}

/** Idempotency keys: the same lifecycle, step and generation always give the same key. */
export const stepKey = (lifecycleId: string, step: string, generation: number) => `${lifecycleId}:${step}:${generation}`;

/** The machine's invoked actors, each a retried call through one port. */
export function createStepActors(ports: StepPorts, opts: StepOptions) {
  const run = async <T>(step: string, signal: AbortSignal, fn: () => Promise<T>): Promise<T> => {
    try {
      return await withRetry(() => fn(), opts.retry, {
        signal,
        onRetry: (err, attempt, delayMs) => opts.log.warn({ step, code: err.code, message: err.message, attempt, delay_ms: delayMs }, 'step failed; retrying'),
        afterCommit: opts.stored,
      });
    } catch (err) {
      const e = err as ServiceError;
      if (signal.aborted) throw e;
      opts.log.error({ step, code: e.code, message: e.message, attempts: e.attempts }, 'step gave up');
      if (e.code !== 'internal') throw e;
      // A bug's text (paths, SQL) belongs in the log, not in the lifecycle that API clients read.
      const safe = new ServiceError('internal', `internal error in ${step}; see the service log`);
      safe.attempts = e.attempts;
      throw safe;
    }
  };
  const writeReply = (input: RadiusReplyInput, signal: AbortSignal) => {
    const { username, prefix } = input;
    const { replies } = ports;
    if (!replies || !username || !prefix) return Promise.resolve();
    const cmd = { username, delegatedPrefix: prefix.prefix, framedPrefix: opts.framedPrefix(prefix.prefix) };
    return run('radius_write_reply', signal, () => replies.writeReply(cmd, signal));
  };
  const release = (input: Omit<ReleaseInput, 'prefixes'> & { prefixes: ReleaseInput['prefixes'] }, signal: AbortSignal) =>
    run('ipam_release', signal, async () => {
      const { lifecycleId } = input;
      const prefixes = [...input.prefixes];
      for (const a of input.unconfirmed) {
        // Allocating again with the lost attempt's key returns what IPAM holds under it (or takes a block
        // we give straight back): either way nothing stays behind.
        const cmd = { key: stepKey(lifecycleId, 'allocate', a.generation), lifecycleId, subscriberId: input.subscriberId, pool: a.pool, prefixLength: a.prefixLength };
        try {
          const got = await ports.ipam.allocate(cmd, signal);
          if (!prefixes.some((p) => p.prefix === got.prefix)) prefixes.push({ ...got, pool: a.pool, generation: a.generation, ipam: a.ipam });
        } catch (err) {
          const code = (err as { code?: string }).code;
          if (code !== 'pool_exhausted' && code !== 'not_found') throw err;
        }
      }
      for (const p of prefixes) {
        await ports.ipam.release(
          { key: stepKey(lifecycleId, 'release', p.generation), lifecycleId, pool: p.pool, prefix: p.prefix, netboxPrefixId: p.netboxPrefixId },
          signal,
        );
      }
    });
  const cpeCall = (op: 'configurePd' | 'removeIpv6', input: CpeInput, signal: AbortSignal): Promise<CpeResult> => {
    const { cpe } = ports;
    if (!cpe || !input.cpeId) return Promise.resolve({ status: 'done' });
    const cmd = { key: stepKey(input.lifecycleId, op, input.generation), cpeId: input.cpeId };
    const step = op === 'configurePd' ? 'cpe_configure_pd' : 'cpe_remove_ipv6';
    const attempt = run(step, signal, async (): Promise<CpeResult> => {
      try {
        return await (op === 'configurePd' ? cpe.configurePd({ ...cmd, prefix: input.prefix ?? '' }, signal) : cpe.removeIpv6(cmd, signal));
      } catch (err) {
        // A CPE the ACS has not seen yet (not shipped, never powered on) is an offline CPE, not a failed activation.
        if (err instanceof ServiceError && err.code === 'not_found') return { status: 'queued', taskId: null };
        throw err;
      }
    });
    if (op === 'configurePd') return attempt;
    // Revocation has already taken the prefix back from IPAM, RADIUS and the sessions: an ACS that
    // cannot turn PD off now must not leave the lifecycle `failed` with a prefix someone else may get.
    // The removal stays a pending step, retried with backoff, visible in `pending` and its metric.
    return attempt.catch((err: unknown) => {
      if (signal.aborted) throw err;
      opts.log.warn({ lifecycle_id: input.lifecycleId, cpe_id: input.cpeId, err: String(err) }, 'CPE removal failed; kept as a pending step');
      return { status: 'queued', taskId: null };
    });
  };

  return {
    allocatePrefix: fromPromise(({ input, signal }: { input: AllocateInput; signal: AbortSignal }) =>
      run('ipam_allocate', signal, () =>
        ports.ipam.allocate(
          {
            key: stepKey(input.lifecycleId, 'allocate', input.generation),
            lifecycleId: input.lifecycleId,
            subscriberId: input.subscriberId,
            pool: input.pool,
            prefixLength: input.prefixLength,
          },
          signal,
        ),
      ),
    ),
    releasePrefix: fromPromise(({ input, signal }: { input: ReleaseInput; signal: AbortSignal }) => release(input, signal)),
    writeRadiusReply: fromPromise(({ input, signal }: { input: RadiusReplyInput; signal: AbortSignal }) => writeReply(input, signal)),
    removeRadiusReply: fromPromise(({ input, signal }: { input: RadiusReplyInput; signal: AbortSignal }) => {
      const { username } = input;
      const { replies } = ports;
      if (!replies || !username) return Promise.resolve();
      return run('radius_remove_reply', signal, () => replies.removeReply({ username }, signal));
    }),
    notifySessions: fromPromise(async ({ input, signal }: { input: SessionsInput; signal: AbortSignal }) => {
      const { username } = input;
      const { sessions } = ports;
      if (!sessions || !username) return [];
      const action = opts.sessionAction[input.purpose];
      const outcomes = await run('radius_sessions', signal, () =>
        sessions.notifySessions({ username, action, delegatedPrefix: input.prefix }, signal),
      );
      for (const o of outcomes) {
        opts.onSessionOutcome?.(input.purpose, o);
        // RFC 5176 gives no way to tell a NAS without CoA support from a lost packet: warn and go on.
        if (o.result === 'no_answer') opts.log.warn({ nas: o.nas, session_id: o.sessionId, action }, 'NAS did not answer; continuing');
      }
      return outcomes;
    }),
    configureCpe: fromPromise(({ input, signal }: { input: CpeInput; signal: AbortSignal }) => cpeCall('configurePd', input, signal)),
    removeCpeIpv6: fromPromise(({ input, signal }: { input: CpeInput; signal: AbortSignal }) => cpeCall('removeIpv6', input, signal)),
    rollbackUpdate: fromPromise(async ({ input, signal }: { input: RollbackInput; signal: AbortSignal }) => {
      // Put the old prefix back where the update may already have changed it, then free the new one.
      await writeReply({ username: input.username, prefix: input.restore }, signal);
      const { sessions } = ports;
      if (sessions && input.username) {
        const cmd = { username: input.username, action: opts.sessionAction.update, delegatedPrefix: input.restore?.prefix ?? null };
        await run('radius_sessions', signal, () => sessions.notifySessions(cmd, signal));
      }
      const { cpe } = ports;
      if (cpe && input.cpeId && input.restore) {
        // A queued answer is fine here: the ACS replaces the update's task with this one (same CPE, newer uniqueKey order).
        const cmd = { key: stepKey(input.lifecycleId, 'restorePd', input.generation), cpeId: input.cpeId, prefix: input.restore.prefix };
        await run('cpe_configure_pd', signal, () => cpe.configurePd(cmd, signal));
      }
      const prefixes = input.release ? [input.release] : [];
      await release({ lifecycleId: input.lifecycleId, subscriberId: input.subscriberId, prefixes, unconfirmed: input.unconfirmed }, signal);
    }),
  };
}
