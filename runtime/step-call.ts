// One step of a lifecycle while it runs: its retried port call, its metric, its log lines, the
// not_found → queued rule of CPE commands, and its result stamped with the time it came. All of it
// is one object and the reaction of its current attempt: a step that waits minutes on its peer
// (parked, runtime/flights.ts) holds that, not a suspended async frame and a promise per layer.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { isUnknownOutcome } from '../machines/steps.ts';
import type { Stamped } from '../machines/types.ts';
import type { CpeResult } from '../services/genieacs/port.ts';
import { internalMessage, ServiceError } from '../services/errors.ts';
import type { Landing } from './flights.ts';
import { inLogScope, type LogScope } from './log-context.ts';
import { nextPendingAttempt, type PendingBackoff } from './pending-worker.ts';
import { Retrying, type RetryPolicy } from './retry.ts';

export type StepOutcome = 'ok' | 'error' | 'refused' | 'queued';

/** What every step of one `createStepActors()` shares. */
export interface StepRuntime {
  retry: RetryPolicy;
  log: Logger;
  afterCommit?: () => Promise<void>;
  /** The time a result or failure is stamped with (ISO). */
  now(): string;
  onStep?: (step: string, outcome: StepOutcome, seconds: number) => void;
  pendingBackoff?: PendingBackoff;
}

/** What one kind of step does with its input: made once per kind, shared by every call of it. */
export interface StepKind<I, T> {
  /** Its name in log lines. */
  step: string;
  /** Its public name, for the metric (an IPAM step is named after the pool's IPAM). */
  metric(input: I): string;
  /** One attempt. */
  call(input: I, signal: AbortSignal): Promise<T>;
  /**
   * A CPE command: a CPE the ACS has not seen (not_found) is queued, never retried; with
   * `queueOnFailure`, so is a command that gives up (see `createStepActors`).
   */
  cpe?: { queueOnFailure: boolean };
  /** Told the result, in the step's log scope, before it is stamped. */
  then?(input: I, value: T): void;
}

const queued = (): CpeResult => ({ status: 'queued', taskId: null });
const failed = (err: unknown) => (isUnknownOutcome(err) ? 'error' : 'refused');
/** The peer's own words (its body, redacted) for the log line; API answers only ever see the message. */
const peerDetail = (err: ServiceError) => (err.detail ? { detail: err.detail } : {});

export class StepCall<I, T> extends Retrying<T> {
  readonly #started = performance.now();

  constructor(
    readonly rt: StepRuntime,
    readonly kind: StepKind<I, T>,
    readonly input: I,
    /** Entered around the port call and the log lines only (runtime/log-context.ts). */
    readonly scope: LogScope,
    readonly signal: AbortSignal,
    readonly land: Landing<Stamped<T>>,
  ) {
    super(rt.retry, signal, rt.afterCommit);
  }

  protected attempt(): Promise<T> {
    return inLogScope(this.scope, () => this.kind.call(this.input, this.signal));
  }

  protected override final(err: ServiceError): boolean {
    return this.kind.cpe !== undefined && err.code === 'not_found';
  }

  protected override retrying(err: ServiceError, attempt: number, delayMs: number): void {
    const { step } = this.kind;
    inLogScope(this.scope, () => this.rt.log.warn({ step, code: err.code, message: err.message, ...peerDetail(err), attempt, delay_ms: delayMs }, 'step failed; retrying'));
  }

  protected succeeded(value: T): void {
    const { kind } = this;
    this.#report(kind.cpe && (value as Partial<CpeResult> | undefined)?.status === 'queued' ? 'queued' : 'ok');
    if (kind.then) inLogScope(this.scope, () => kind.then!(this.input, value));
    this.#resolve(value);
  }

  protected gaveUp(raw: unknown): void {
    const { kind } = this;
    const e = raw as ServiceError;
    // A CPE the ACS has not seen yet is an offline CPE: the command stays a pending step.
    if (kind.cpe && raw instanceof ServiceError && e.code === 'not_found') {
      this.#report('queued');
      return this.#resolve(queued() as T);
    }
    if (this.signal.aborted) return this.#reject(e);
    if (!kind.cpe) this.#report(failed(e));
    const { step } = kind;
    // A peer that keeps failing is an operational condition (warn); only our own bug is an error.
    inLogScope(this.scope, () => this.rt.log[e.code === 'internal' ? 'error' : 'warn']({ step, code: e.code, message: e.message, ...peerDetail(e), attempts: e.attempts }, 'step gave up'));
    let out = e;
    if (e.code === 'internal') {
      // A bug's text (paths, SQL) belongs in the log, not in the lifecycle that API clients read.
      out = new ServiceError('internal', internalMessage(step));
      out.attempts = e.attempts;
    }
    if (!kind.cpe) return this.#reject(out);
    // Revocation has given the prefix back, a rollback has put RADIUS back: the command must not
    // leave the lifecycle failed, so it is retried with backoff, visible in `pending` and its metric.
    this.#report(kind.cpe.queueOnFailure ? 'queued' : failed(out));
    if (!kind.cpe.queueOnFailure) return this.#reject(out);
    const { key, cpeId } = this.input as { key?: string; cpeId?: string | null };
    inLogScope(this.scope, () => this.rt.log.warn({ key, cpe_id: cpeId, err: String(out) }, 'CPE command failed; kept as a pending step'));
    this.#resolve(queued() as T);
  }

  protected broke(err: ServiceError): void {
    // gaveUp() threw (a log line, a metric): the answer only, with the bug's text kept out of it.
    const out = new ServiceError('internal', internalMessage(this.kind.step));
    out.attempts = err.attempts;
    this.#reject(out);
  }

  #report(outcome: StepOutcome): void {
    this.rt.onStep?.(this.kind.metric(this.input), outcome, (performance.now() - this.#started) / 1000);
  }

  #resolve(value: T): void {
    const stamped: Stamped<T> = { at: this.rt.now(), result: value };
    // A CPE command kept as a pending step: the scheduler's first backoff says when it asks again.
    const { pendingBackoff } = this.rt;
    if (pendingBackoff && (value as Partial<CpeResult> | undefined)?.status === 'queued') stamped.retryAt = nextPendingAttempt(pendingBackoff, 1, new Date(stamped.at));
    this.land.resolve(stamped);
  }

  #reject(err: unknown): void {
    this.land.reject(Object.assign(err instanceof ServiceError ? err : new ServiceError('internal', String(err)), { at: this.rt.now() }));
  }
}
