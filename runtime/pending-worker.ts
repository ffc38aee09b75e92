import type { Logger } from 'pino';
import type { CpePort, CpeResult } from '../services/genieacs/port.ts';
import type { LifecycleStore } from '../store/lifecycles.ts';
import type { ActorHost } from './actor-host.ts';
import { backoffDelay } from './backoff.ts';

export interface PendingWorkerOptions {
  store: LifecycleStore;
  host: ActorHost;
  cpe: CpePort | null;
  log: Logger;
  /** First wait before asking an offline CPE again; doubles up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
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

/**
 * Retries outside work that was accepted but not confirmed (a CPE that was offline), with the same
 * idempotency key the step used, and records each outcome as an event of the lifecycle.
 */
export function createPendingWorker(opts: PendingWorkerOptions) {
  let running: Promise<number> | null = null;

  async function runOne(id: string, subscriberId: string): Promise<boolean> {
    return opts.host.exclusive(subscriberId, async () => {
      const snapshot = opts.host.snapshot(id);
      if (!snapshot) return false;
      const ctx = snapshot.context;
      const row = opts.store.get(id);
      // A later lifecycle (the subscriber's next, or another subscriber's) has configured this CPE
      // since: removing IPv6 now, or configuring this lifecycle's old prefix, would undo its work.
      const successor = ctx.cpeId && row ? opts.store.newerOnCpe(ctx.cpeId, row) : null;
      const now = new Date();
      let touched = false;
      for (const p of ctx.pending) {
        if (p.next_attempt_at && new Date(p.next_attempt_at) > now) continue;
        touched = true;
        const { cpe } = opts;
        if (!cpe || !ctx.cpeId) {
          opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step });
          continue;
        }
        if (successor) {
          opts.log.info({ lifecycle_id: id, step: p.step, superseded_by: successor }, 'pending CPE step dropped: a later lifecycle has the CPE');
          opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step, supersededBy: successor });
          continue;
        }
        let result: CpeResult;
        try {
          result =
            p.step === 'cpe_configure_pd'
              ? await cpe.configurePd({ key: p.key, cpeId: ctx.cpeId, prefix: ctx.current?.prefix ?? '' })
              : await cpe.removeIpv6({ key: p.key, cpeId: ctx.cpeId });
        } catch (err) {
          opts.log.warn({ lifecycle_id: id, step: p.step, err: String(err) }, 'pending CPE step failed; will try again');
          result = { status: 'queued', taskId: p.task_id };
        }
        if (result.status === 'done') {
          opts.host.send(id, { type: 'PENDING_RESOLVED', step: p.step });
        } else {
          // This was attempt `attempts + 1`: the wait grows with it.
          const next = nextPendingAttempt({ baseMs: opts.baseDelayMs, maxMs: opts.maxDelayMs }, p.attempts + 1, new Date());
          opts.host.send(id, { type: 'PENDING_DEFERRED', step: p.step, next_attempt_at: next });
        }
      }
      await opts.host.settle(id, 0);
      return touched;
    });
  }

  /** Works through every lifecycle whose pending work is due; returns how many it looked at. */
  function tick(): Promise<number> {
    if (running) return running;
    running = (async () => {
      let n = 0;
      for (const { id, subscriber_id } of opts.store.duePending(new Date().toISOString(), 500)) {
        if (await runOne(id, subscriber_id)) n++;
      }
      return n;
    })().finally(() => {
      running = null;
    });
    return running;
  }

  return { tick };
}
