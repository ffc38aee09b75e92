// How the service the composition root (compose.ts) wired runs: its start (NetBox's pool parents
// resolved, with retries and then in the background, before start-up recovery and the schedulers),
// its readiness (`/readyz`), and its one stop. It owns the state they share: whether recovery has
// run, why not yet, what the PostgreSQL probe last said, and the fleet of several instances.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { ActorHost } from './runtime/actor-host.ts';
import { backoffDelay } from './runtime/backoff.ts';
import { startFleet, type Fleet } from './runtime/fleet.ts';
import type { Ownership } from './runtime/ownership.ts';
import { withRetry, type RetryPolicy } from './runtime/retry.ts';
import type { Scheduler } from './runtime/scheduler.ts';
import { ServiceError } from './services/errors.ts';
import type { IpamPort } from './services/ipam/port.ts';
import { probeWrite } from './store/db.ts';
import type { OpenedStore } from './store/open.ts';

/** What runs, as compose.ts wired it. */
export interface RunParts {
  config: Config;
  log: Logger;
  retry: RetryPolicy;
  ipam: IpamPort;
  opened: OpenedStore;
  host: ActorHost;
  ownership: Ownership | null;
  jobs: Scheduler;
  /** Closed at the stop, after the actors and before the store (the peers' clients, the inspector). */
  closers: readonly (() => void)[];
}

export interface Run {
  /** Whether this instance leads the fleet now (several instances); false on one. */
  leads(): boolean;
  /** True once start-up recovery has run: the API serves. */
  started(): boolean;
  /** Composed's `notReady()`. */
  notReady(): string | null;
  /** `notReady()` once a probe of the database that ends after the call has answered (several instances), for `/readyz`. */
  checkReady(): Promise<string | null>;
  /** Composed's `start()`. */
  start(): Promise<void>;
  /** Composed's `stop()`. */
  stop(): Promise<void>;
}

/**
 * How long `/readyz` waits on its probe of PostgreSQL, how old a probe's result it reuses, and how
 * long a probe may hang before the instance says it is not ready.
 */
const READY_PROBE_MS = 2000;
const READY_FRESH_MS = 250;
const READY_HUNG_MS = 10_000;

export function createRun(parts: RunParts): Run {
  const { config, log, retry, ipam, opened, host, ownership, jobs, closers } = parts;
  const { port, sqlite, postgresql } = opened;
  // Several instances (runtime/fleet.ts): the leader runs the scheduled jobs and reports the fleet-wide figures.
  let fleet: Fleet | null = null;
  // `started`: recovery has run, the API serves. `waiting`: why it has not yet (NetBox pools unresolved).
  let started = false;
  let waiting: string | null = null;
  let stopped = false;
  let pgProblem: string | null = null;
  let probedAt = 0;
  let probeStartedAt = 0;
  let probing: Promise<void> | null = null;
  const probe = (): Promise<void> =>
    (probing ??= ((probeStartedAt = Date.now()), port)
      .probe()
      .then(
        () => {
          pgProblem = null;
          host.storeRecovered();
        },
        (err: Error) => void (pgProblem = `the database takes no writes: ${err.message}`),
      )
      .finally(() => {
        probing = null;
        probedAt = Date.now();
      }));
  const probeSoon = () => {
    if (!probing && Date.now() - probedAt >= 1000) void probe();
  };
  // `/readyz` is polled seconds apart: answering what the probe of the previous call found would
  // say ready for a whole period after the database went away, and not ready after it came back.
  // Its answer waits on a probe of its own (one in flight, shared; a result a few tenths old reused).
  const checkReady = async (): Promise<string | null> => {
    if (!started || sqlite || stopped) return notReady();
    if (probing || Date.now() - probedAt >= READY_FRESH_MS) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), READY_PROBE_MS)));
      const outcome = await Promise.race([probe(), late]).finally(() => clearTimeout(timer));
      // Stopped while it waited: the stopped instance's answer, not the probe's.
      if (stopped) return notReady();
      // A probe slow under load (the pool busy) is no outage: every busy instance would leave the
      // balancer at once. The last probe's answer stands until one has hung READY_HUNG_MS.
      if (outcome === 'late' && Date.now() - probeStartedAt >= READY_HUNG_MS) {
        return host.storeProblem ?? `the database did not answer the readiness probe within ${READY_HUNG_MS / 1000} s`;
      }
    }
    return host.storeProblem ?? pgProblem;
  };
  const notReady = (): string | null => {
    if (!started) return waiting ?? 'start-up recovery is still running';
    if (!sqlite) {
      // Several instances: each says whether it reaches a database that takes writes (a standby
      // after a failover does not), from its own probe, at most one in flight, every second.
      probeSoon();
      return host.storeProblem ?? pgProblem;
    }
    if (host.storeProblem) {
      // Nothing may be queued that would tell: a write of our own says whether the store is back.
      try {
        probeWrite(sqlite.db);
        host.storeRecovered();
      } catch {
        // still failing
      }
      return host.storeProblem;
    }
    return null;
  };

  const begin = () => {
    if (postgresql && ownership) {
      // One of several instances: work in flight resumes once no instance holds it, here or elsewhere.
      fleet = startFleet({ url: postgresql.url, ownership, host, store: port.lifecycles, leaseMs: config.store.lease_ms, leaderIntervalMs: config.store.leader_interval_ms, log });
      log.info({ instance: ownership.owner, lease_ms: config.store.lease_ms }, 'ready as one instance of several; taking over work in flight that no instance holds');
      started = true;
      waiting = null;
      jobs.start();
      return;
    }
    // Ready at once: the lifecycles in flight resume in the background, and one a request needs first is hydrated then.
    const t0 = Date.now();
    void host.resumeInFlight().then(
      (resumed) => log.info({ resumed, ms: Date.now() - t0 }, 'lifecycles in flight resumed'),
      (err) => log.error({ err: String(err) }, 'resuming the lifecycles in flight failed; each resumes when a request hydrates it'),
    );
    log.info('start-up recovery done; resuming the lifecycles in flight in the background');
    started = true;
    waiting = null;
    jobs.start();
  };
  // Once: a second stop (a second signal, a test harness closing after the test stopped it) waits for the first.
  let stopping: Promise<void> | null = null;
  const stop = () => (stopping ??= stopOnce());
  const stopOnce = async () => {
    stopped = true;
    started = false;
    jobs.stop();
    await fleet?.stop();
    host.stopAll();
    await host.drain();
    // Given up, not left to expire: another instance resumes what was in flight at once.
    await ownership?.stop();
    for (const close of closers) close();
    await opened.close();
  };

  return {
    leads: () => fleet?.isLeader ?? false,
    started: () => started,
    notReady,
    checkReady,
    async start() {
      if (!('init' in ipam && typeof ipam.init === 'function')) return begin();
      // NetBox's parent lookup makes one attempt per request, like every step: retry it as a step.
      const init = ipam.init.bind(ipam) as () => Promise<unknown>;
      try {
        await withRetry(() => init(), retry, {
          onRetry: (err, attempt, delayMs) => {
            waiting = why(err);
            log.warn({ code: err.code, message: err.message, attempt, delay_ms: delayMs }, 'IPAM start-up check failed; retrying');
          },
        });
      } catch (err) {
        // A configuration the IPAM contradicts (no such parent) is for the operator: the start fails.
        if (!(err instanceof ServiceError) || !err.retryable) throw err;
        waiting = why(err);
        log.warn({ code: err.code, message: err.message }, 'IPAM unreachable at start-up: not ready; resolving the pools in the background');
        void resolveInBackground(init, err);
        return;
      }
      begin();
    },
    stop,
  };

  /** One attempt after another, with the one backoff policy, until the IPAM answers; then recovery. */
  async function resolveInBackground(init: () => Promise<unknown>, first: ServiceError): Promise<void> {
    let last: unknown = first;
    for (let attempt = 1; !stopped; attempt++) {
      const hint = last instanceof ServiceError ? (last.retryAfterMs ?? 0) : 0;
      const delay = Math.max(hint, backoffDelay({ baseMs: retry.baseMs, maxMs: retry.maxMs, jitter: 'equal' }, attempt));
      await new Promise<void>((r) => setTimeout(r, delay).unref());
      if (stopped) return;
      try {
        await init();
      } catch (err) {
        last = err;
        waiting = why(err as Error);
        log.warn({ code: (err as ServiceError).code, message: (err as Error).message, attempt, delay_ms: delay }, 'IPAM still unreachable; retrying');
        continue;
      }
      log.info('IPAM pools resolved; running start-up recovery');
      begin();
      return;
    }
  }
}

const why = (err: { message: string }) => `resolving the IPAM pools: ${err.message}`;
