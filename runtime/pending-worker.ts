import type { Logger } from 'pino';
import type { PendingError, PendingStep } from '../machines/types.ts';
import { internalMessage, ServiceError } from '../services/errors.ts';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DueRow } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { ActorHost } from './actor-host.ts';
import { backoffDelay } from './backoff.ts';
import { giveBack } from './give-back.ts';

export interface PendingWorkerOptions {
  store: Pick<LifecyclePort, 'get' | 'newerOnCpe' | 'duePending' | 'countDue'>;
  host: ActorHost;
  cpe: CpePort | null;
  /** Gives back a rolled-back update's block that IPAM did not take back in time (a `*_release` step). */
  ipam?: IpamPort;
  log: Logger;
  /** First wait before asking an offline CPE again; doubles up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Lifecycles worked on at once; the ACS's own limit (runtime/peer-limits.ts) bounds its requests in any case. */
  concurrency?: number;
  /** On the first pass after a start, each due lifecycle waits a random part of this first (no thundering herd). */
  spreadFirstMs?: number;
  /** Most lifecycles one pass looks at. */
  perPass?: number;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Most lifecycles a pass begins in one turn of the event loop. When every call answers at once, a
 * worker goes on to the next lifecycle without giving the loop back: 20,000 due steps held it 285 ms.
 */
export const PENDING_SLICE = 8;

/** Due lifecycles read per statement: 20,000 in one were 42–83 ms of one turn, and their sort up to 71 ms more (issue 10). */
export const DUE_PAGE = 1000;

/** Resolves at once `perTurn` times in a turn of the loop, then only in the next turn (shared by all workers). */
function turnBudget(perTurn: number): () => Promise<void> {
  let used = 0;
  let turn: Promise<void> | null = null;
  return async () => {
    while (used >= perTurn) {
      turn ??= new Promise<void>((resolve) =>
        setImmediate(() => {
          [used, turn] = [0, null];
          resolve();
        }),
      );
      await turn;
    }
    used++;
  };
}

/** How the scheduler spaces its attempts at one pending step. */
export interface PendingBackoff {
  baseMs: number;
  maxMs: number;
}

/**
 * When a pending step that has had `attempts` attempts is asked again: the one backoff, with equal
 * jitter (never much sooner than the step: asking an offline CPE again at once is wasted).
 */
export function nextPendingAttempt(b: PendingBackoff, attempts: number, from: Date): string {
  return new Date(from.getTime() + backoffDelay({ ...b, jitter: 'equal' }, attempts)).toISOString();
}

/** What the API shows of a pending step's failed attempt: a peer's error as the port typed it, never an internal one's text. */
function pendingError(step: string, err: unknown): PendingError {
  const at = new Date().toISOString();
  if (err instanceof ServiceError && err.code !== 'internal') return { code: err.code, message: err.message, at };
  return { code: 'internal', message: internalMessage(step), at };
}

/**
 * Retries outside work that was accepted but not confirmed (a CPE that was offline, a rolled-back
 * update's block IPAM did not take back), with the same idempotency key the step used, and records
 * each outcome as an event of the lifecycle.
 */
export function createPendingWorker(opts: PendingWorkerOptions) {
  let running: Promise<number> | null = null;
  let passes = 0;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));

  /** The same release the rollback's step sends (runtime/give-back.ts): under this lifecycle's mark only, so a retry is harmless. */
  async function releaseOne(id: string, subscriberId: string, p: PendingStep, release: NonNullable<PendingStep['release']>): Promise<void> {
    try {
      if (!opts.ipam) throw new Error('no IPAM port');
      await giveBack(opts.ipam, { lifecycleId: id, subscriberId, ...release, free: true });
    } catch (err) {
      opts.log.warn({ lifecycle_id: id, step: p.step, err: String(err) }, 'pending IPAM release failed; will try again');
      const next_attempt_at = nextPendingAttempt({ baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }, p.attempts + 1, new Date());
      await opts.host.send(id, { type: 'PENDING_DEFERRED', step: p.step, next_attempt_at, error: pendingError(p.step, err) });
      return;
    }
    opts.log.info({ lifecycle_id: id, step: p.step, prefixes: release.prefixes.map((x) => x.prefix) }, 'a rolled-back update\'s block is given back to IPAM');
    // Only what was given back: a later rollback may have joined its block to the step meanwhile
    // (a lifecycle resumed at start-up runs outside the subscriber's queue), with its own generation.
    await opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step, generation: p.generation });
  }

  async function runOne(id: string, subscriberId: string): Promise<boolean> {
    return opts.host.exclusive(subscriberId, async () => {
      const snapshot = await opts.host.snapshot(id);
      if (!snapshot) return false;
      const ctx = snapshot.context;
      const row = await opts.store.get(id);
      // A later lifecycle (the subscriber's next, or another subscriber's) has configured this CPE
      // since: removing IPv6 now, or configuring this lifecycle's old prefix, would undo its work.
      const successor = ctx.cpeId && row ? await opts.store.newerOnCpe(ctx.cpeId, row) : null;
      const now = new Date();
      let touched = false;
      for (const p of ctx.pending) {
        if (p.next_attempt_at && new Date(p.next_attempt_at) > now) continue;
        touched = true;
        if (p.release) {
          await releaseOne(id, ctx.subscriberId, p, p.release);
          continue;
        }
        const { cpe } = opts;
        if (!cpe || !ctx.cpeId) {
          await opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step });
          continue;
        }
        if (successor) {
          opts.log.info({ lifecycle_id: id, step: p.step, superseded_by: successor }, 'pending CPE step dropped: a later lifecycle has the CPE');
          await opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step, supersededBy: successor });
          continue;
        }
        let result: CpeResult;
        let error: PendingError | undefined;
        try {
          result =
            p.step === 'cpe_configure_pd'
              ? await cpe.configurePd({ key: p.key, cpeId: ctx.cpeId, prefix: ctx.current?.prefix ?? '', pending: true })
              : await cpe.removeIpv6({ key: p.key, cpeId: ctx.cpeId, pending: true });
        } catch (err) {
          opts.log.warn({ lifecycle_id: id, step: p.step, err: String(err) }, 'pending CPE step failed; will try again');
          result = { status: 'queued', taskId: p.task_id };
          error = pendingError(p.step, err);
        }
        if (result.status === 'done') {
          await opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step, ...(result.reason ? { reason: result.reason } : {}) });
        } else {
          // This was attempt `attempts + 1`: the wait grows with it.
          const next = nextPendingAttempt({ baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }, p.attempts + 1, new Date());
          if (!error && result.status === 'queued' && result.problem) error = { code: 'upstream_rejected', message: result.problem, at: new Date().toISOString() };
          await opts.host.send(id, { type: 'PENDING_DEFERRED', step: p.step, next_attempt_at: next, ...(error ? { error } : {}) });
        }
      }
      await opts.host.settle(id, 0);
      return touched;
    });
  }

  /**
   * Works through every lifecycle whose pending work is due, `concurrency` at a time (10k offline
   * CPEs one after another took ten minutes a pass); returns how many it looked at. The first pass
   * after a start finds every step that came due while the service was down: it spreads them over
   * `spreadFirstMs` (or `spreadMs`: 0 asks at once).
   */
  function tick(o: { spreadMs?: number } = {}): Promise<number> {
    if (running) return running;
    const first = passes++ === 0;
    const spread = o.spreadMs ?? (first ? (opts.spreadFirstMs ?? 0) : 0);
    running = (async () => {
      const now = new Date().toISOString();
      const limit = opts.perPass ?? 50_000;
      // The k-th due lifecycle's moment is its share k/total of the spread, with jitter inside the
      // share: the pass asks at an even rate, earliest due first, without reading all of them first.
      // total is counted at the pass's `now`, as the pages read (a step added since is due later).
      const total = spread > 0 ? Math.max(1, await opts.store.countDue(now, limit)) : 1;
      const started = Date.now();
      let k = 0;
      let n = 0;
      // A few workers pulling from one page reader (an async generator answers one next() at a time),
      // not a promise per lifecycle: 10k of those at once was a long piece of the event loop, and no
      // more of them are hydrated at once than are asked.
      const due = duePages(now, limit);
      const pace = turnBudget(PENDING_SLICE);
      const worker = async () => {
        for (;;) {
          await pace();
          let next: IteratorResult<DueRow, void>;
          try {
            next = await due.next();
          } catch (err) {
            // The reader is done after a throw: the other workers finish what they hold, and the pass ends.
            opts.log.warn({ err: String(err) }, 'reading the due pending work failed; the next pass tries again');
            return;
          }
          if (next.done) return;
          const item = next.value;
          const offset = spread > 0 ? Math.min(spread, Math.floor((spread * (k++ + random())) / total)) : 0;
          const wait = started + offset - Date.now();
          if (wait > 0) await sleep(wait);
          try {
            if (await runOne(item.id, item.subscriber_id)) n++;
          } catch (err) {
            opts.log.warn({ lifecycle_id: item.id, err: String(err) }, 'pending work failed; the next pass tries again');
          }
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency ?? 32 }, worker));
      return n;
    })().finally(() => {
      running = null;
    });
    return running;
  }

  /** Up to `limit` lifecycles due at `now`, read DUE_PAGE at a time, each page after the last row of the one before. */
  async function* duePages(now: string, limit: number): AsyncGenerator<DueRow, void, undefined> {
    let after: DueRow | undefined;
    for (let read = 0; read < limit; ) {
      const want = Math.min(DUE_PAGE, limit - read);
      const page = await opts.store.duePending(now, want, after);
      yield* page;
      read += page.length;
      if (page.length < want) return;
      after = page.at(-1);
    }
  }

  return { tick };
}
